import { chmodSync, statSync, writeFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../cluster/lab.js';
import { uniqueLabName } from '../harness/lab-fixture.js';
import { skipWhen } from '../harness/skip.js';
import { cachedBinDir } from '../kube/cache.js';
import { DEFAULT_KUBE_VERSION } from '../kube/versions.js';
import { loadTopology } from '../model/index.js';
import { netnsName } from '../netns/names.js';
import { NetnsProvider } from '../netns/provider.js';
import {
  kubeProxyPids,
  realKubeProxyCases,
  running,
  sameFile,
} from './kube-proxy-cases.test-helper.js';

/**
 * The real kube-proxy (built from source) on every node of a netns lab, in iptables and
 * nftables mode: it is the program that runs (a copy given by path, proven by /proc/<pid>/exe),
 * it programs the kernel, and the lab's changes wait for the sync that follows them.
 */
const root = join(import.meta.dirname, '..', '..');
const provider = new NetnsProvider();
const skip = skipWhen('root', process.getuid?.() !== 0 && 'needs root');

for (const mode of ['nftables', 'iptables'] as const)
  describe.skipIf(skip)(`real kube-proxy, ${mode} mode`, () => realKubeProxyCases(mode));

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
      expect(sameFile(`/proc/${pid}/exe`, kubeProxy)).toBe(true);
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

/**
 * `kubeProxy.nodes`: kube-proxy on the named nodes only (svclab fidelity compares one node and
 * runs one). The others' kernels stay empty, and the lab's sync waits for the one that runs.
 */
describe.skipIf(skip)('kube-proxy on the named nodes only', () => {
  let lab: Lab;
  beforeAll(async () => {
    const topo = await loadTopology(join(root, 'topologies', 'three-node.yaml'));
    lab = await provider.up(topo, {
      name: uniqueLabName('kp-nodes'),
      proxy: 'none',
      progress: 'silent',
      ephemeral: true,
      controlPlane: true,
      kubeProxy: { mode: 'nftables', nodes: ['node-b'] },
    });
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('runs one kube-proxy, in node-b, and only node-b has its table', async () => {
    const pids = kubeProxyPids(lab.name);
    expect(pids).toHaveLength(1);
    expect(statSync(`/proc/${pids[0]}/ns/net`).ino).toBe(
      statSync(`/run/netns/${netnsName(lab.name, 'node', 'node-b')}`).ino,
    );
    await lab.update((t) => void (t.pods.find((p) => p.name === 'web-a')!.ready = false));
    for (const node of lab.topology.nodes) {
      const tables = (await lab.backend.exec(node.name, 'nft', ['list', 'tables'])).stdout;
      expect({ node: node.name, has: tables.includes('ip kube-proxy') }).toEqual({
        node: node.name,
        has: node.name === 'node-b',
      });
    }
    const rules = (await lab.backend.exec('node-b', 'nft', ['list', 'table', 'ip', 'kube-proxy']))
      .stdout;
    // web-a's endpoint chains stay a second, flushed (nftables mode's staleChains): what shows
    // the sync took the change is that nothing DNATs to it any more.
    const dnat = (pod: string) => `dnat to ${lab.topology.pods.find((p) => p.name === pod)!.ip}:`;
    expect(rules).not.toContain(dnat('web-a'));
    expect(rules).toContain(dnat('web-b'));
  });

  it('a node that is not in the topology is refused, and nothing of that lab is left', async () => {
    const topo = await loadTopology(join(root, 'topologies', 'three-node.yaml'));
    const name = uniqueLabName('kp-nodes-bad');
    await expect(
      provider.up(topo, {
        name,
        proxy: 'none',
        progress: 'silent',
        ephemeral: true,
        controlPlane: true,
        kubeProxy: { mode: 'nftables', nodes: ['node-z'] },
      }),
    ).rejects.toThrow(
      /kube-proxy nodes: no node "node-z" in the topology \(have: node-a, node-b, node-c\)/,
    );
    const { stdout } = await execa('ip', ['netns', 'list']);
    expect(stdout.split('\n').filter((l) => l.includes(name))).toEqual([]);
  });
});
