import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadTopology } from '../../model/index.js';
import { ownedLabs } from '../owned-labs.js';
import { labDir } from '../state.js';
import type { KubeApi } from './api.js';
import { upClusterLab, type ClusterSpec } from './cluster-up.js';

/**
 * kind and kubeconfig labs made by a process for itself (ephemeral: a benchmark's, a test's) are
 * removed on SIGINT/SIGTERM like netns and docker labs: the lab is owned from the moment its
 * state exists, and disowned once its bring-up failed and was torn down. The signal path itself
 * is src/cluster/owned-labs.ts's, exercised end to end by src/netns/crash.e2e.test.ts.
 */
const root = join(import.meta.dirname, '..', '..', '..');

describe('upClusterLab and the labs a signal removes', () => {
  let runDir: string;
  const saved = process.env.SVCLAB_RUN_DIR;
  beforeEach(() => {
    runDir = mkdtempSync(join(tmpdir(), 'svclab-cluster-up-'));
    process.env.SVCLAB_RUN_DIR = runDir;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.SVCLAB_RUN_DIR;
    else process.env.SVCLAB_RUN_DIR = saved;
    rmSync(runDir, { recursive: true, force: true });
  });

  /** A kind-like spec whose cluster creation fails, recording what was owned while it ran. */
  function failingSpec(seen: { ownedDuring: string[]; tornDown: string[] }): ClusterSpec {
    return {
      provider: 'kind',
      api: {} as KubeApi,
      namespace: 'svclab-x',
      placement: { kind: 'spread' },
      externalHosts: () => {
        throw new Error('not reached');
      },
      nodeExec: () => () => {
        throw new Error('not reached');
      },
      nodeRules: true,
      extra: {},
      namespaceGoesWithCluster: true,
      provision: {
        title: 'create kind cluster',
        run: () => {
          seen.ownedDuring = ownedLabs();
          return Promise.reject(new Error('kind create cluster failed'));
        },
      },
      teardown: (lab) => {
        seen.tornDown.push(lab);
        return Promise.resolve({ lab, removed: [`kind cluster svclab-${lab}`], errors: [] });
      },
      agentFiles: () => ({}),
    };
  }

  const topology = () => loadTopology(join(root, 'topologies', 'two-node.yaml'));

  it('owns an ephemeral lab while it comes up, then tears it down once and disowns it', async () => {
    const seen = { ownedDuring: [] as string[], tornDown: [] as string[] };
    await expect(
      upClusterLab(
        await topology(),
        { proxy: 'iptables', ephemeral: true, progress: 'silent' },
        failingSpec(seen),
        'cu-eph',
      ),
    ).rejects.toThrow(/failed to bring up lab cu-eph/);
    expect(seen.ownedDuring).toContain('cu-eph');
    expect(seen.tornDown).toEqual(['cu-eph']);
    expect(ownedLabs()).not.toContain('cu-eph');
    expect(existsSync(labDir('cu-eph'))).toBe(false);
  });

  it("does not own a user's lab (svclab up): a Ctrl-C there is up's own business", async () => {
    const seen = { ownedDuring: [] as string[], tornDown: [] as string[] };
    await expect(
      upClusterLab(
        await topology(),
        { proxy: 'iptables', progress: 'silent' },
        failingSpec(seen),
        'cu-user',
      ),
    ).rejects.toThrow(/failed to bring up lab cu-user/);
    expect(seen.ownedDuring).not.toContain('cu-user');
    expect(seen.tornDown).toEqual(['cu-user']);
  });
});
