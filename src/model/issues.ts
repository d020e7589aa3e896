import type { ValidationIssue } from './types.js';

/** A location in the document: keys and array indexes, e.g. ['spec', 'nodes', 0, 'ip']. */
export type Path = readonly (string | number)[];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `['spec','services',2,'ports',0,'nodePort']` → `spec.services[2].ports[0].nodePort`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Collects issues in the order checks find them. */
export class IssueList {
  readonly issues: ValidationIssue[] = [];

  error(path: Path, message: string): void {
    this.issues.push({ path: formatPath(path), message, severity: 'error' });
  }

  warning(path: Path, message: string): void {
    this.issues.push({ path: formatPath(path), message, severity: 'warning' });
  }

  get hasErrors(): boolean {
    return this.issues.some((i) => i.severity === 'error');
  }
}

/** One line per issue: `<file>: <path>: <message>`, warnings marked as such. */
export function formatIssue(file: string, issue: ValidationIssue): string {
  const where = issue.path ? `${file}: ${issue.path}` : file;
  const what = issue.severity === 'warning' ? `warning: ${issue.message}` : issue.message;
  return `${where}: ${what}`;
}

/**
 * A topology file that cannot be used. Carries every issue found (errors first, then the
 * warnings of the same run) so one run reports them all, the way kind and the API server do.
 */
export class TopologyError extends Error {
  override readonly name = 'TopologyError';
  readonly issues: ValidationIssue[];

  constructor(
    readonly file: string,
    issues: readonly ValidationIssue[],
  ) {
    const sorted = [
      ...issues.filter((i) => i.severity === 'error'),
      ...issues.filter((i) => i.severity === 'warning'),
    ];
    const errors = sorted.filter((i) => i.severity === 'error').length;
    super(
      [
        `invalid topology ${file}: ${errors} ${errors === 1 ? 'error' : 'errors'}`,
        ...sorted.map((i) => formatIssue(file, i)),
      ].join('\n'),
    );
    this.issues = sorted;
  }

  /** The issue lines without the summary line. */
  get lines(): string[] {
    return this.issues.map((i) => formatIssue(this.file, i));
  }
}
