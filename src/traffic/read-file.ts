import fs from 'node:fs/promises';
import { MAX_READ_FILE_BYTES, type ReadFileResult } from './protocol.js';

/**
 * Reads a file as this namespace sees it (/proc/net/nf_conntrack, /proc/net/ip_vs, ...).
 * /proc files report size 0, so this reads until EOF, stopping at MAX_READ_FILE_BYTES.
 */
export async function readFileCapped(
  path: string,
  max = MAX_READ_FILE_BYTES,
): Promise<ReadFileResult> {
  const handle = await fs.open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let truncated = false;
    for (;;) {
      const want = Math.min(64 * 1024, max + 1 - bytes);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buf, 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      bytes += bytesRead;
      if (bytes > max) {
        truncated = true;
        break;
      }
    }
    const all = Buffer.concat(chunks).subarray(0, max);
    return { path, content: all.toString('utf8'), bytes: all.length, truncated };
  } finally {
    await handle.close();
  }
}
