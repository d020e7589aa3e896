import { clip, quote, utf8Length } from './echo.js';
import { MAX_ECHOED_VALUE_BYTES, MAX_ISSUE_BYTES, MAX_LISTED_ISSUES } from './limits.js';
import type { ValidationIssue } from './types.js';

/** A location in the document: keys and array indexes, e.g. ['spec', 'nodes', 0, 'ip']. */
export type Path = readonly (string | number)[];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * `['spec','services',2,'ports',0,'nodePort']` → `spec.services[2].ports[0].nodePort`. Keys come
 * from the file, so any other key is quoted (and cut) the way values are: `spec["a\nb"]`.
 */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENTIFIER.test(seg) && utf8Length(seg) <= MAX_ECHOED_VALUE_BYTES)
      out += out ? `.${seg}` : seg;
    else out += `[${quote(seg)}]`;
  }
  return clip(out, MAX_ISSUE_BYTES);
}

/**
 * Collects issues in the order checks find them. Every issue is counted, but only the first
 * MAX_LISTED_ISSUES of each severity are kept: a file with a million bad entries costs a count,
 * not a million messages.
 */
export class IssueList {
  readonly issues: ValidationIssue[] = [];
  errorCount = 0;
  warningCount = 0;

  error(path: Path, message: string): void {
    if (++this.errorCount <= MAX_LISTED_ISSUES) this.add(path, message, 'error');
  }

  warning(path: Path, message: string): void {
    if (++this.warningCount <= MAX_LISTED_ISSUES) this.add(path, message, 'warning');
  }

  get hasErrors(): boolean {
    return this.errorCount > 0;
  }

  private add(path: Path, message: string, severity: ValidationIssue['severity']): void {
    // Checks quote what they echo; clipping here keeps a line bounded and on one line even
    // when a message carries text this module did not write (a library's, say).
    this.issues.push({ path: formatPath(path), message: clip(message, MAX_ISSUE_BYTES), severity });
  }
}

/** One line per issue: `<file>: <path>: <message>`, warnings marked as such. */
export function formatIssue(file: string, issue: ValidationIssue): string {
  const where = issue.path ? `${file}: ${issue.path}` : file;
  const what = issue.severity === 'warning' ? `warning: ${issue.message}` : issue.message;
  return `${where}: ${what}`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * A topology file that cannot be used. Carries the issues found (errors first, then the
 * warnings of the same run) so one run reports them all, the way kind and the API server do;
 * past MAX_LISTED_ISSUES lines the rest are counted in a last line.
 */
export class TopologyError extends Error {
  override readonly name = 'TopologyError';
  readonly issues: ValidationIssue[];
  /** Lines listed: the issues, then a count of those not listed (if any). */
  readonly lines: string[];

  constructor(
    readonly file: string,
    issues: readonly ValidationIssue[] | IssueList,
  ) {
    const list = Array.isArray(issues) ? undefined : (issues as IssueList);
    const all: readonly ValidationIssue[] = list ? list.issues : (issues as ValidationIssue[]);
    const errors = all.filter((i) => i.severity === 'error');
    const warnings = all.filter((i) => i.severity === 'warning');
    const errorCount = list?.errorCount ?? errors.length;
    const warningCount = list?.warningCount ?? warnings.length;
    const listed = [...errors, ...warnings].slice(0, MAX_LISTED_ISSUES);
    const lines = listed.map((i) => formatIssue(file, i));
    const notListedErrors = errorCount - listed.filter((i) => i.severity === 'error').length;
    const notListedWarnings = warningCount - listed.filter((i) => i.severity === 'warning').length;
    if (notListedErrors + notListedWarnings > 0) {
      const counts = [
        notListedErrors > 0 ? plural(notListedErrors, 'more error') : '',
        notListedWarnings > 0 ? plural(notListedWarnings, 'more warning') : '',
      ].filter(Boolean);
      lines.push(`${file}: ... and ${counts.join(' and ')} not listed`);
    }
    super([`invalid topology ${file}: ${plural(errorCount, 'error')}`, ...lines].join('\n'));
    this.issues = listed;
    this.lines = lines;
  }
}
