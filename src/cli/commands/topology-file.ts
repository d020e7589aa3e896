import { loadTopology as loadTopologyFile } from '../../model/load.js';
import { UsageError } from '../errors.js';

/** Reads a topology file; a missing or unreadable file is bad input (exit 2), not a crash. */
export async function loadTopology(file: string) {
  try {
    return await loadTopologyFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR')
      throw new UsageError(
        `cannot read topology file ${file}: ${code === 'ENOENT' ? 'no such file' : code}`,
      );
    throw err;
  }
}
