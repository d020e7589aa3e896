import {
  copyFileSync,
  chmodSync,
  statSync,
  writeFileSync,
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
import { netnsName } from '../netns/names.js';
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

/** Alive and not a zombie (a killed process its new parent has not reaped yet is gone). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
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

    it('the node dump shows what kube-proxy wrote, its log, metrics and configuration', async () => {
      const d = await lab.proxyDump('node-b');
      const rules = mode === 'nftables' ? d['nft'] : d['iptables-save'];
      expect(rules).toContain(mode === 'nftables' ? 'table ip kube-proxy' : ':KUBE-SERVICES');
      expect(d['kube-proxy.log']).toMatch(new RegExp(`Using ${mode} Proxier`));
      expect(d['kube-proxy.metrics']).toMatch(
        /^kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} \d/m,
      );
      expect(d['kube-proxy.config']).toContain('hostnameOverride: node-b');
      const dir = await lab.dump({ dir: copyDir, reason: 'test' });
      expect(readFileSync(join(dir, 'node-b', 'kube-proxy.log.txt'), 'utf8')).toMatch(
        new RegExp(`Using ${mode} Proxier`),
      );
      expect(readFileSync(join(dir, 'node-b', 'kube-proxy.metrics.txt'), 'utf8')).toContain(
        'kubeproxy_sync_proxy_rules_duration_seconds',
      );
    });

    it('no kube-proxy outlives its lab', async () => {
      const name = lab.name;
      await lab.down();
      expect(kubeProxyPids(name)).toEqual([]);
    });
  });
}

/**
 * `--proxy-command`: svclab runs whatever the template names on every node. The program here is
 * a wrapper script (a stand-in for a user's proxy) that records what it was given and then execs
 * the built kube-proxy, so the proof is the wrapper's own record: its PID (kept across exec) is
 * the process in the node's namespace running the binary, with the placeholders filled in.
 */
describe.skipIf(skip)('--proxy-command: any proxy that watches the API', () => {
  let lab: Lab;
  const dir = mkdtempSync(join(tmpdir(), 'svclab-proxy-command-'));
  const wrapper = join(dir, 'my proxy');
  const kubeProxy = join(cachedBinDir(DEFAULT_KUBE_VERSION), 'kube-proxy');
  beforeAll(async () => {
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        '# my-proxy NODE CONFIG METRICS NODEIP: records itself, then becomes kube-proxy',
        `printf '%s\\n' "$$" "$@" > ${JSON.stringify(dir)}/"$1".started`,
        `exec ${kubeProxy} --config="$2" --hostname-override="$1" --v=2`,
        '',
      ].join('\n'),
    );
    chmodSync(wrapper, 0o755);
    const topo = await loadTopology(join(root, 'topologies', 'three-node.yaml'));
    lab = await provider.up(topo, {
      name: uniqueLabName('kp-cmd'),
      proxy: 'none',
      progress: 'silent',
      ephemeral: true,
      controlPlane: true,
      kubeProxy: {
        mode: 'nftables',
        command: `${wrapper.replace(/ /g, '\\ ')} {node} {config} {metricsAddress} {nodeIP}`,
      },
    });
  });
  afterAll(async () => {
    await lab?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ran the given program on every node, inside the node, with the placeholders filled in', () => {
    for (const node of lab.topology.nodes) {
      const [pid, ...args] = readFileSync(join(dir, `${node.name}.started`), 'utf8')
        .trimEnd()
        .split('\n');
      expect(args).toEqual([
        node.name,
        `/run/svclab/${lab.name}/control-plane/kube-proxy/${node.name}.yaml`,
        `${node.ip}:10249`,
        node.ip,
      ]);
      expect(readlinkSync(`/proc/${pid}/exe`)).toBe(kubeProxy);
      expect(statSync(`/proc/${pid}/ns/net`).ino).toBe(
        statSync(`/run/netns/${netnsName(lab.name, 'node', node.name)}`).ino,
      );
    }
  });

  it('the lab waited for its sync: traffic flows, and a change is in place once update returns', async () => {
    const seen = await lab.probe('client-a', 'web:http', { count: 20 });
    expect(seen.attempts.every((a) => a.ok)).toBe(true);
    await lab.update((t) => void (t.pods.find((p) => p.name === 'web-a')!.ready = false));
    const after = await lab.probe('client-a', 'web:http', { count: 20 });
    expect(after.attempts.every((a) => a.ok && a.backend !== 'web-a')).toBe(true);
  });

  it('stops with its lab', async () => {
    const pids = lab.topology.nodes.map((n) =>
      Number(readFileSync(join(dir, `${n.name}.started`), 'utf8').split('\n')[0]),
    );
    await lab.down();
    for (const pid of pids) expect(running(pid)).toBe(false);
  });
});
