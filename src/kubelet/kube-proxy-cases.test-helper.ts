import {
  copyFileSync,
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Lab } from '../cluster/lab.js';
import { uniqueLabName } from '../harness/lab-fixture.js';
import { cachedBinDir } from '../kube/cache.js';
import { DEFAULT_KUBE_VERSION } from '../kube/versions.js';
import { loadTopology } from '../model/index.js';
import { NetnsProvider } from '../netns/provider.js';

/**
 * What every mode of the real kube-proxy must show on a netns lab (kube-proxy.e2e.test.ts for
 * iptables and nftables on the host, kube-proxy-ipvs.e2e.test.ts in a kernel with IP_VS): it is
 * the program that runs (a copy given by path, proven by /proc/<pid>/exe), it programs the kernel,
 * the lab's changes wait for the sync that follows them, restart is a lab operation, the dump
 * shows what it wrote, and nothing outlives the lab.
 */
const root = join(import.meta.dirname, '..', '..');
const provider = new NetnsProvider();

/** kube-proxy processes of a lab (not the short-lived forks it makes to run `nft` or `iptables-restore`). */
export function kubeProxyPids(lab: string): number[] {
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
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The process runs this very file: same device and inode through /proc/<pid>/exe (its readlink
 * text depends on the reader's mount namespace and root, e.g. a chroot in the VM).
 */
export function sameFile(a: string, b: string): boolean {
  const x = statSync(a);
  const y = statSync(b);
  return x.dev === y.dev && x.ino === y.ino;
}

export function realKubeProxyCases(
  mode: 'iptables' | 'nftables' | 'ipvs',
  /** A shipped topology with Service `web`, backends `web-*`, a `client-a` pod and two+ nodes. */
  topologyFile = 'three-node.yaml',
): void {
  /** The web backends of the topology, and the one the readiness case flips. */
  const webPods = () =>
    lab.topology.pods.filter((p) => p.name.startsWith('web-')).map((p) => p.name);
  const flipped = () => webPods().at(-1)!;
  /** The node whose dump is read (not the first: every node's kube-proxy is written down). */
  const dumped = () => lab.topology.nodes.at(-1)!.name;
  let lab: Lab;
  const copyDir = mkdtempSync(join(tmpdir(), 'svclab-kube-proxy-'));
  const binary = join(copyDir, 'kube-proxy');
  beforeAll(async () => {
    // A user's build, given by path: a copy of the built one.
    copyFileSync(join(cachedBinDir(DEFAULT_KUBE_VERSION), 'kube-proxy'), binary);
    chmodSync(binary, 0o755);
    const topo = await loadTopology(join(root, 'topologies', topologyFile));
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
    for (const pid of pids) expect(sameFile(`/proc/${pid}/exe`, binary)).toBe(true);
  });

  it("keeps each change unbatched after kube-proxy's own defaulting: /configz says minSyncPeriod 1ms", async () => {
    // A 0s minSyncPeriod in the file would come back as 1s here (v1alpha1 defaults.go).
    const node = lab.topology.nodes[0]!;
    const r = await lab.controlPlane!.kubelet<{ status: number; body: string }>('http-get', {
      url: `http://${node.ip}:10249/configz`,
      limit: 1024 * 1024,
    });
    expect(r.status, r.body).toBe(200);
    // The running configuration in v1alpha1 form: the periods sit in the active mode's section
    // (the conversion from the internal type leaves the other modes' sections at zero).
    const cfg = (JSON.parse(r.body) as Record<string, Record<string, unknown>>)[
      'kubeproxy.config.k8s.io'
    ]!;
    expect(cfg['mode']).toBe(mode);
    expect(cfg[mode]).toMatchObject({ minSyncPeriod: '1ms', syncPeriod: '30s' });
  });

  it('programs the kernel: traffic to a ClusterIP reaches every ready backend', async () => {
    const web = lab.service('web').spec.clusterIP;
    const rules = {
      nftables: ['nft', 'list', 'table', 'ip', 'kube-proxy'],
      iptables: ['iptables-save', '-t', 'nat'],
      ipvs: ['ipvsadm', '-Ln'],
    }[mode];
    expect((await lab.exec('node-a', rules)).stdout).toContain(
      {
        nftables: 'comment "rules for kube-proxy"',
        iptables: ':KUBE-SERVICES',
        ipvs: `TCP  ${web}:80 rr`,
      }[mode],
    );
    const seen = await lab.probe('client-a', 'web:http', { count: 30 });
    expect(new Set(seen.attempts.filter((a) => a.ok).map((a) => a.backend))).toEqual(
      new Set(webPods()),
    );
  });

  it('a readiness change is in the rules once the update returns (the sync after it was waited for)', async () => {
    await lab.update((t) => void (t.pods.find((p) => p.name === flipped())!.ready = false));
    const seen = await lab.probe('client-a', 'web:http', { count: 30 });
    expect(seen.attempts.every((a) => a.ok)).toBe(true);
    expect(seen.attempts.some((a) => a.backend === flipped())).toBe(false);
    await lab.update((t) => void (t.pods.find((p) => p.name === flipped())!.ready = true));
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
    const d = await lab.proxyDump(dumped());
    const rules = { nftables: d['nft'], iptables: d['iptables-save'], ipvs: d['ipvsadm'] }[mode];
    expect(rules).toContain(
      {
        nftables: 'table ip kube-proxy',
        iptables: ':KUBE-SERVICES',
        ipvs: 'IP Virtual Server',
      }[mode],
    );
    if (mode === 'ipvs') expect(d['ipset']).toContain('KUBE-CLUSTER-IP');
    expect(d['kube-proxy.log']).toMatch(new RegExp(`Using ${mode} Proxier`));
    expect(d['kube-proxy.metrics']).toMatch(
      /^kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} \d/m,
    );
    expect(d['kube-proxy.config']).toContain(`hostnameOverride: ${dumped()}`);
    const dir = await lab.dump({ dir: copyDir, reason: 'test' });
    expect(readFileSync(join(dir, dumped(), 'kube-proxy.log.txt'), 'utf8')).toMatch(
      new RegExp(`Using ${mode} Proxier`),
    );
    expect(readFileSync(join(dir, dumped(), 'kube-proxy.metrics.txt'), 'utf8')).toContain(
      'kubeproxy_sync_proxy_rules_duration_seconds',
    );
  });

  it('no kube-proxy outlives its lab', async () => {
    const name = lab.name;
    await lab.down();
    expect(kubeProxyPids(name)).toEqual([]);
  });
}
