import { loadTopology as loadTopologyFile } from '../../model/load.js';
import { UsageError } from '../errors.js';

const UNREADABLE: Record<string, string> = {
  ENOENT: 'no such file',
  ENOTDIR: 'no such file (a part of the path is not a directory)',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
};

/** Reads a topology file; a missing or unreadable file is bad input (exit 2), not a crash. */
export async function loadTopology(file: string) {
  try {
    return await loadTopologyFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined && UNREADABLE[code])
      throw new UsageError(`cannot read topology file ${file}: ${UNREADABLE[code]}`);
    throw err;
  }
}
