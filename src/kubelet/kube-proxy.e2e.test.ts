import {
  copyFileSync,
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../cluster/lab.js';
import { uniqueLabName } from '../harness/lab-fixture.js';
import { skipWhen } from '../harness/skip.js';
import { cachedBinDir } from '../kube/cache.js';
import { DEFAULT_KUBE_VERSION } from '../kube/versions.js';
import { loadTopology } from '../model/index.js';
import { NetnsProvider } from '../netns/provider.js';

/**
 * The real kube-proxy (built from source) on every node of a netns lab, in iptables and
 * nftables mode: it is the program that runs (a copy given by path, proven by /proc/<pid>/exe),
 * it programs the kernel, and the lab's changes wait for the sync that follows them.
 */
const root = join(import.meta.dirname, '..', '..');
const provider = new NetnsProvider();
const skip = skipWhen('root', process.getuid?.() !== 0 && 'needs root');

/** kube-proxy processes of a lab (not the short-lived forks it makes to run `nft` or `iptables-restore`). */
function kubeProxyPids(lab: string): number[] {
  const all = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv.some((a) =>
          a.startsWith(`--config=/run/svclab/${lab}/control-plane/kube-proxy/`),
        );
      } catch {
        return false;
      }
    })
    .map(Number);
  const parent = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return 0;
    }
  };
  return all.filter((p) => !all.includes(parent(p)));
}

for (const mode of ['nftables', 'iptables'] as const) {
  describe.skipIf(skip)(`real kube-proxy, ${mode} mode`, () => {
    let lab: Lab;
    const copyDir = mkdtempSync(join(tmpdir(), 'svclab-kube-proxy-'));
    const binary = join(copyDir, 'kube-proxy');
    beforeAll(async () => {
      // A user's build, given by path: a copy of the built one.
      copyFileSync(join(cachedBinDir(DEFAULT_KUBE_VERSION), 'kube-proxy'), binary);
      chmodSync(binary, 0o755);
      const topo = await loadTopology(join(root, 'topologies', 'three-node.yaml'));
      lab = await provider.up(topo, {
        name: uniqueLabName(`kp-${mode.slice(0, 3)}`),
        proxy: 'none',
        progress: 'silent',
        ephemeral: true,
        controlPlane: true,
        kubeProxy: { mode, binary },
      });
    });
    afterAll(async () => {
      await lab?.down();
      rmSync(copyDir, { recursive: true, force: true });
    });

    it('runs the given kube-proxy binary, one per node', () => {
      const pids = kubeProxyPids(lab.name);
      expect(pids).toHaveLength(lab.topology.nodes.length);
      for (const pid of pids) expect(readlinkSync(`/proc/${pid}/exe`)).toBe(binary);
    });

    it('programs the kernel: traffic to a ClusterIP reaches every ready backend', async () => {
      const rules =
        mode === 'nftables'
          ? (await lab.exec('node-a', ['nft', 'list', 'table', 'ip', 'kube-proxy'])).stdout
          : (await lab.exec('node-a', ['iptables-save', '-t', 'nat'])).stdout;
      expect(rules).toContain(
        mode === 'nftables' ? 'comment "rules for kube-proxy"' : ':KUBE-SERVICES',
      );
      const seen = await lab.probe('client-a', 'web:http', { count: 30 });
      expect(new Set(seen.attempts.filter((a) => a.ok).map((a) => a.backend))).toEqual(
        new Set(['web-a', 'web-b', 'web-c']),
      );
    });

    it('a readiness change is in the rules once the update returns (the sync after it was waited for)', async () => {
      await lab.update((t) => void (t.pods.find((p) => p.name === 'web-c')!.ready = false));
      const seen = await lab.probe('client-a', 'web:http', { count: 30 });
      expect(seen.attempts.every((a) => a.ok)).toBe(true);
      expect(seen.attempts.some((a) => a.backend === 'web-c')).toBe(false);
      await lab.update((t) => void (t.pods.find((p) => p.name === 'web-c')!.ready = true));
    });

    it('restart is a lab operation: new processes, rules rebuilt, traffic flows', async () => {
      const before = kubeProxyPids(lab.name);
      await lab.restartProxies();
      const after = kubeProxyPids(lab.name);
      expect(after).toHaveLength(before.length);
      expect(after.some((p) => before.includes(p))).toBe(false);
      const seen = await lab.probe('client-a', 'web:http', { count: 10 });
      expect(seen.attempts.every((a) => a.ok)).toBe(true);
    });

    it('no kube-proxy outlives its lab', async () => {
      const name = lab.name;
      await lab.down();
      expect(kubeProxyPids(name)).toEqual([]);
    });
  });
}
