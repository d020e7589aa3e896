import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../cli/package-root.js';

/**
 * The versions the cluster providers run, in one file at the package root
 * (`cluster-versions.json`) that the code reads here and .github/workflows/kind.yml reads with jq,
 * so the kind binary, its node image and the images of the lab's pods cannot drift apart:
 * - `kind`: the kind release (kind supports a node image only with the release that built it);
 * - `kubernetes` and `nodeImage`: a node image from that release's notes, pinned by digest as
 *   kind asks;
 * - `agentImage`: any image with Node.js and a shell (the agent's code comes in a ConfigMap);
 * - `agnhostImage`: upstream e2e's agnhost (netexec serves behind Services).
 */
export interface ClusterVersions {
  kind: string;
  kubernetes: string;
  nodeImage: string;
  agentImage: string;
  agnhostImage: string;
}

export const CLUSTER_VERSIONS_FILE = join(packageRoot(), 'cluster-versions.json');

/** Reads and checks the file; a missing or malformed field is named. */
export function readClusterVersions(file = CLUSTER_VERSIONS_FILE): ClusterVersions {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const field = (k: keyof ClusterVersions, re: RegExp): string => {
    const v = doc[k];
    if (typeof v !== 'string' || !re.test(v))
      throw new Error(`${file}: ${k} must match ${re}, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    kind: field('kind', /^v\d+\.\d+\.\d+$/),
    kubernetes: field('kubernetes', /^v\d+\.\d+\.\d+$/),
    nodeImage: field('nodeImage', /^kindest\/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$/),
    agentImage: field('agentImage', /^\S+$/),
    agnhostImage: field('agnhostImage', /^\S+$/),
  };
}

export const CLUSTER_VERSIONS: ClusterVersions = readClusterVersions();
