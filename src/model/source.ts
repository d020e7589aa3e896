import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { packageRoot } from '../cli/package-root.js';
import { loadTopology, topologyFromObject } from './load.js';
import type { Topology } from './types.js';

/**
 * Where a lab's topology comes from: a file (relative to the caller's project, the folder tests
 * run from), a document written in code (what the YAML would hold), or a topology loaded before.
 */
export type TopologySource = string | Topology | Record<string, unknown>;

export async function topologyOfSource(
  source: TopologySource,
  opts: { cwd?: string } = {},
): Promise<Topology> {
  if (typeof source === 'string') return loadTopology(topologyPath(source, opts.cwd));
  // Already resolved (from loadTopology): a copy, since a lab's updates edit its topology.
  if (isResolved(source)) return structuredClone(source);
  return topologyFromObject(source);
}

/**
 * A topology file's path: relative paths are the user's project's (the working directory); a bare
 * name that is not there but is one of svclab's shipped topologies (`three-node.yaml`) is that.
 */
export function topologyPath(file: string, cwd: string = process.cwd()): string {
  if (isAbsolute(file)) return file;
  const own = resolve(cwd, file);
  if (existsSync(own)) return own;
  const shipped = join(packageRoot(), 'topologies', file);
  return existsSync(shipped) ? shipped : own;
}

function isResolved(t: Topology | Record<string, unknown>): t is Topology {
  return Array.isArray(t.nodes) && Array.isArray(t.warnings) && !('spec' in t);
}
