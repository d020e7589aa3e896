/**
 * Turns zod issues into ValidationIssues worded the way the Kubernetes API server words field
 * errors ("Required value", "Unsupported value: ...", "Invalid value: ...: why"), so people who
 * read kubectl errors all day read these without thinking.
 */
import type * as z from 'zod';
import { show } from './echo.js';
import type { IssueList, Path } from './issues.js';

type ZodIssue = z.core.$ZodIssue;

export function addZodIssues(out: IssueList, root: z.ZodType, issues: readonly ZodIssue[]): void {
  // zod's int() adds its own safe-integer bound ("Too big: expected int to be <=9007199254740991")
  // beside the field's range; the field's range says the same in the schema's words.
  const ranged = new Set(issues.filter((i) => !isSafeIntBound(i)).map((i) => i.path.join('\0')));
  for (const issue of issues) {
    if (isSafeIntBound(issue) && ranged.has(issue.path.join('\0'))) continue;
    addZodIssue(out, root, [], issue);
  }
}

function isSafeIntBound(issue: ZodIssue): boolean {
  return (issue.code === 'too_big' || issue.code === 'too_small') && issue.origin === 'int';
}

function addZodIssue(out: IssueList, root: z.ZodType, base: Path, issue: ZodIssue): void {
  const path: Path = [...base, ...(issue.path as (string | number)[])];
  const input: unknown = issue.input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) out.error(path, 'Required value');
      // YAML reads .inf, .nan and 1e400 as numbers that no field accepts.
      else if (typeof input === 'number' && !Number.isFinite(input))
        out.error(path, `Invalid value: ${show(input)}: must be a finite number`);
      else
        out.error(
          path,
          `expected ${describeExpected(issue.expected)}, got ${describeInput(input)}${quoteHint(issue.expected, input)}`,
        );
      return;
    case 'unrecognized_keys':
      for (const key of issue.keys)
        out.error([...path, key], unknownField(key, knownFields(root, path)));
      return;
    case 'invalid_value':
      out.error(
        path,
        `Unsupported value: ${show(input)}: supported values: ${issue.values.map(show).join(', ')}`,
      );
      return;
    case 'invalid_key':
      for (const sub of issue.issues) out.error(path, `Invalid key ${show(input)}: ${sub.message}`);
      return;
    case 'invalid_union': {
      // A union fails on the branch whose type matched (targetPort 0 fails the number branch's
      // range, not the string branch's type): report that branch; else list the accepted types.
      const matched = issue.errors.find((branch) => branch.some((i) => i.code !== 'invalid_type'));
      if (matched) for (const sub of matched) addZodIssue(out, root, path, sub);
      else {
        const expected = issue.errors.flatMap((b) =>
          b.flatMap((i) => (i.code === 'invalid_type' ? [describeExpected(i.expected)] : [])),
        );
        out.error(
          path,
          input === undefined
            ? 'Required value'
            : `expected ${expected.join(' or ')}, got ${describeInput(input)}`,
        );
      }
      return;
    }
    case 'too_small':
    case 'too_big':
      out.error(
        path,
        issue.origin === 'array'
          ? issue.message
          : `Invalid value: ${show(input)}: ${issue.message}`,
      );
      return;
    case 'invalid_format':
      out.error(path, `Invalid value: ${show(input)}: ${issue.message}`);
      return;
    default:
      out.error(path, issue.message);
  }
}

function describeExpected(expected: string): string {
  const names: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    int: 'an integer',
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
  };
  return names[expected] ?? expected;
}

function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return `${typeof input} ${show(input)}`;
}

/** YAML reads `local: true` and `version: 1` as a boolean and a number; labels need strings. */
function quoteHint(expected: string, input: unknown): string {
  return expected === 'string' && (typeof input === 'boolean' || typeof input === 'number')
    ? ` (quote it: '${String(input)}')`
    : '';
}

function unknownField(key: string, known: string[]): string {
  const close = known.filter((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
  if (close.length > 0) return `unknown field (did you mean ${close.map(show).join(' or ')}?)`;
  return known.length > 0 ? `unknown field; known fields: ${known.join(', ')}` : 'unknown field';
}

/** The field names the schema declares for the object at `path` (walks zod's definitions). */
function knownFields(root: z.ZodType, path: Path): string[] {
  let node: z.core.$ZodType | undefined = root;
  for (const seg of [...path, undefined]) {
    // Unwrap until we reach an object (or a container to step into with `seg`).
    for (;;) {
      const def: z.core.$ZodTypeDef | undefined = node?._zod.def;
      if (def?.type === 'optional' || def?.type === 'nullable' || def?.type === 'default') {
        node = (def as unknown as { innerType: z.core.$ZodType }).innerType;
      } else break;
    }
    if (seg === undefined || !node) break;
    const def = node._zod.def as unknown as {
      type: string;
      shape?: Record<string, z.core.$ZodType>;
      element?: z.core.$ZodType;
      valueType?: z.core.$ZodType;
    };
    if (def.type === 'object') node = def.shape?.[String(seg)];
    else if (def.type === 'array') node = def.element;
    else if (def.type === 'record') node = def.valueType;
    else node = undefined;
  }
  const def = node?._zod.def as { type: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

function editDistance(a: string, b: string): number {
  // Only small distances matter; a long key from a hostile file must not cost |a|·|b|.
  if (Math.abs(a.length - b.length) > 2) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, sub);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
