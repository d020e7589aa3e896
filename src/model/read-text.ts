/**
 * A topology file's bytes → its text, within MAX_TOPOLOGY_BYTES and only if it is UTF-8 (as
 * YAML files are, and as Kubernetes reads manifests). Reading with the 'utf8' encoding would
 * turn bad bytes into U+FFFD silently, and would read a 10 GB file, or /dev/zero, to the end.
 */
import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';
import type { IssueList } from './issues.js';
import { MAX_TOPOLOGY_BYTES } from './limits.js';

/**
 * At most MAX_TOPOLOGY_BYTES + 1 bytes of the file: enough to tell that it is too large. A
 * regular file's size is known before reading; a pipe or device is read up to the limit.
 */
export async function readBounded(path: string): Promise<{ bytes: Uint8Array; size?: number }> {
  const handle = await open(path, 'r');
  try {
    const stat = await handle.stat();
    if (stat.isFile() && stat.size > MAX_TOPOLOGY_BYTES)
      return { bytes: new Uint8Array(0), size: stat.size };
    const buffer = Buffer.alloc(MAX_TOPOLOGY_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return { bytes: buffer.subarray(0, length) };
  } finally {
    await handle.close();
  }
}

/** The size refusal; `size` when known (a regular file), else what was read says "more than". */
export function tooLargeMessage(size: number | undefined): string {
  const limit = `a topology file may be at most ${MAX_TOPOLOGY_BYTES} bytes (1 MiB)`;
  return size === undefined
    ? `is larger than ${MAX_TOPOLOGY_BYTES} bytes; ${limit}`
    : `is ${size} bytes; ${limit}`;
}

/** The text of UTF-8 `bytes` (a UTF-8 byte order mark is dropped), or undefined with the reason. */
export function decodeUtf8(bytes: Uint8Array, out: IssueList): string | undefined {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    out.error([], 'is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8');
    return undefined;
  }
  if (isUtf8(bytes)) return new TextDecoder('utf-8').decode(bytes);
  const bad = firstInvalidUtf8(bytes);
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < bad; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  const byte = (bytes[bad] ?? 0).toString(16).padStart(2, '0');
  out.error(
    [],
    `is not UTF-8 text: byte 0x${byte} at line ${line}, byte ${bad - lineStart + 1} of the line, is not valid UTF-8; save the file as UTF-8`,
  );
  return undefined;
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  const cont = (i: number) => i < b.length && ((b[i] ?? 0) & 0xc0) === 0x80;
  for (let i = 0; i < b.length;) {
    const c = b[i] ?? 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    // Second-byte ranges exclude overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    const second = b[i + 1] ?? 0;
    if (i + 1 >= b.length || second < lo || second > hi) return i;
    for (let k = 2; k <= n; k++) if (!cont(i + k)) return i;
    i += n + 1;
  }
  return b.length;
}
