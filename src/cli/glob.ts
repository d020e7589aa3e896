import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/** The argument is a pattern (`e2e/**\/*.test.ts`), not a plain path. */
export function isGlob(arg: string): boolean {
  return /[*?[]/.test(arg);
}

/**
 * Files matching a glob (`*`, `?`, `[...]` within a path segment; `**` for any number of
 * segments), relative patterns against `cwd`. Node 20 has no fs.glob; node_modules and dot
 * folders are not searched, as a test runner's include would not.
 */
export function expandGlob(pattern: string, cwd: string): string[] {
  const abs = isAbsolute(pattern) ? pattern : resolve(cwd, pattern);
  const parts = abs.split(sep);
  const firstGlob = parts.findIndex(isGlob);
  if (firstGlob < 0) return existsSync(abs) ? [abs] : [];
  const base = parts.slice(0, firstGlob).join(sep) || sep;
  const re = globRegExp(parts.slice(firstGlob).join('/'));
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (re.test(relative(base, p).split(sep).join('/'))) out.push(p);
    }
  };
  if (existsSync(base) && statSync(base).isDirectory()) walk(base);
  return out.sort();
}

/** A glob over `/`-separated relative paths as a regular expression. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches zero or more whole segments; a trailing `**` matches the rest.
      if (glob[i + 2] === '/') {
        re += '(?:[^/]+/)*';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, '^')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
