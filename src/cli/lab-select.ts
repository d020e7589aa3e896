import { listLabDirs } from '../cluster/state.js';
import { UsageError } from './errors.js';

/** The lab a command acts on: the one named, or the only one there is. */
export async function selectLab(named: string | undefined): Promise<string> {
  if (named) return named;
  const labs = await listLabDirs();
  if (labs.length === 1) return labs[0]!;
  if (labs.length === 0)
    throw new UsageError('no lab is running: start one with `svclab up topologies/two-node.yaml`');
  throw new UsageError(`several labs are running (${labs.join(', ')}): say which with --lab`);
}
