/**
 * Echoing values from a topology file in messages. The file is untrusted: a value may be a
 * megabyte long, or carry newlines, terminal escapes and bidirectional overrides. Every value
 * goes through here, so one issue stays one short line that cannot repaint the terminal: long
 * values are cut with `...(truncated N bytes)`, as Kubernetes' field errors cut them, and
 * invisible characters are written as escapes.
 */
import { MAX_ECHOED_VALUE_BYTES, MAX_LISTED_NAMES } from './limits.js';

/** Controls (C0, DEL, C1), format characters (bidi overrides, zero-width), separators, lone surrogates. */
const INVISIBLE = /^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]$/u;

const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(ch: string, inQuotes: boolean): string {
  if (inQuotes && (ch === '"' || ch === '\\')) return `\\${ch}`;
  const short = SHORT_ESCAPES[ch];
  if (short) return short;
  if (!INVISIBLE.test(ch)) return ch;
  let out = '';
  for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * `text` with invisible characters escaped, cut so the result is at most `maxBytes` (plus the
 * marker). `inQuotes` also escapes `"` and `\`, for a value shown between quotes.
 */
function escapeAndCut(text: string, maxBytes: number, inQuotes: boolean): string {
  let out = '';
  let outBytes = 0;
  let consumed = 0;
  for (const ch of text) {
    const escaped = escapeChar(ch, inQuotes);
    const bytes = utf8Length(escaped);
    if (outBytes + bytes > maxBytes) {
      const cut = utf8Length(text) - utf8Length(text.slice(0, consumed));
      return `${out}${inQuotes ? '"' : ''}...(truncated ${cut} bytes)`;
    }
    out += escaped;
    outBytes += bytes;
    consumed += ch.length;
  }
  return inQuotes ? `${out}"` : out;
}

/** A string value between double quotes, escaped and cut: `"web"`, `"a\nb"`, `"aaa"...(truncated 9 bytes)`. */
export function quote(value: string): string {
  return `"${escapeAndCut(value, MAX_ECHOED_VALUE_BYTES, true)}`;
}

/** Any value from the file as a message shows it; numbers as YAML writes the odd ones. */
export function show(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return '.nan';
    if (value === Infinity) return '.inf';
    if (value === -Infinity) return '-.inf';
    return String(value);
  }
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'a mapping';
  return String(value);
}

/** Text from elsewhere (a library's message, a whole issue) made one bounded line. */
export function clip(text: string, maxBytes: number): string {
  return escapeAndCut(text, maxBytes, false);
}

/** `a, b, c` — or the first few and a count, so a message naming "all nodes" stays short. */
export function listNames(names: readonly string[]): string {
  if (names.length <= MAX_LISTED_NAMES) return names.join(', ');
  return `${names.slice(0, MAX_LISTED_NAMES).join(', ')}, and ${names.length - MAX_LISTED_NAMES} more`;
}
