import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectLab } from '../assertions/index.js';
import type { Lab } from '../cluster/lab.js';
import { labDir } from '../cluster/state.js';
import { run } from '../exec/index.js';
import { uniqueLabName } from '../harness/lab-fixture.js';
import { skipWhen } from '../harness/skip.js';
import { loadTopology } from '../model/index.js';
import { NetnsProvider } from './provider.js';

const root = join(import.meta.dirname, '..', '..');
const provider = new NetnsProvider();
const skip = skipWhen('root', process.getuid?.() !== 0 && 'needs root');

function labNamespaces(lab: string): string[] {
  return readdirSync('/run/netns').filter((n) => n.startsWith(`svclab.${lab}.`));
}

function agentPids(lab: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv.some((a, i) => a === '--lab' && argv[i + 1] === lab);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe.skipIf(skip)('netns provider (no proxy)', () => {
  let lab: Lab;
  beforeAll(async () => {
    const topo = await loadTopology(join(root, 'topologies', 'three-node.yaml'));
    lab = await provider.up(topo, {
      name: uniqueLabName('core'),
      proxy: 'none',
      progress: 'silent',
      ephemeral: true,
    });
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('wires one namespace per node, pod (except hostNetwork) and external host, plus the fabric', () => {
    const ns = labNamespaces(lab.name).sort();
    expect(ns).toEqual(
      [
        'fabric',
        'node.node-a',
        'node.node-b',
        'node.node-c',
        'pod.web-a',
        'pod.web-b',
        'pod.web-c',
        'pod.client-a',
        'pod.client-b',
        'ext.client',
      ]
        .map((n) => `svclab.${lab.name}.${n}`)
        .sort(),
    );
  });

  it('routes pod to pod across nodes, keeping the source address', async () => {
    const obs = await lab.probe('client-a', lab.destination('web-c:8080'), { count: 5 });
    await expectLab(lab).answeredBy(obs, ['web-c']);
    await expectLab(lab).sourcePreserved(obs, lab.target('client-a').ip);
  });

  it('lets an external host reach a node (a hostNetwork pod served by the node agent)', async () => {
    const obs = await lab.probe('client', lab.destination('node-c:9090'), { count: 3 });
    await expectLab(lab).answeredBy(obs, ['node-c']);
    await expectLab(lab).sourcePreserved(obs, lab.target('client').ip);
  });

  it('answers agnhost-style over UDP (hostname, clientip) with the observed source port', async () => {
    const obs = await lab.probe('client-b', lab.destination('web-a:8081', 'udp'), {
      count: 3,
      sourcePort: 40123,
    });
    await expectLab(lab).answeredBy(obs, ['web-a']);
    for (const a of obs.attempts) {
      expect(a.sourceIP).toBe(lab.target('client-b').ip);
      expect(a.sourcePort).toBe(40123);
      expect(a.localPort).toBe(40123);
      expect(a.latencyMs).toBeGreaterThan(0);
    }
  });

  it('reports a closed port as refused and a silent one as a timeout', async () => {
    const refused = await lab.probe('client-a', lab.destination('web-b:9999'), {
      count: 2,
      timeoutMs: 2000,
    });
    expect(refused.attempts.map((a) => a.failure)).toEqual(['refused', 'refused']);
    // client-a's agent serves no ports: UDP to it gets ICMP port unreachable -> refused as well,
    // so drop it on purpose in web-a's own namespace to see a timeout.
    await lab.exec('web-a', [
      'iptables',
      '-A',
      'INPUT',
      '-p',
      'udp',
      '--dport',
      '8081',
      '-j',
      'DROP',
    ]);
    const dropped = await lab.probe('client-a', lab.destination('web-a:8081', 'udp'), {
      count: 2,
      timeoutMs: 300,
    });
    expect(dropped.attempts.map((a) => a.failure)).toEqual(['timeout', 'timeout']);
    await lab.exec('web-a', [
      'iptables',
      '-D',
      'INPUT',
      '-p',
      'udp',
      '--dport',
      '8081',
      '-j',
      'DROP',
    ]);
  });

  it('is sealed: nothing routes out of the lab', async () => {
    // A documentation address (RFC 5737). Nodes send it to the node network's gateway (the
    // fabric namespace), which has no route beyond the lab and answers "network unreachable":
    // the packet never leaves the lab's namespaces.
    const gw = await lab.exec('node-a', ['ip', 'route', 'get', '192.0.2.1']);
    expect(gw.stdout).toMatch(/via 172\.18\.0\.1 dev eth0/);
    const fabric = await run(
      'ip',
      ['-n', `svclab.${lab.name}.fabric`, 'route', 'get', '192.0.2.1'],
      { allowFailure: true },
    );
    expect(fabric.exitCode).not.toBe(0);
    expect(fabric.stderr).toMatch(/unreachable/i);
    const obs = await lab.probe('client-a', lab.destination('192.0.2.1:80'), {
      count: 1,
      timeoutMs: 2000,
    });
    expect(obs.attempts[0]!.failure).toBe('unreachable');
  });

  it('refuses a second lab with the same name, and creates nothing for it', async () => {
    const topo = await loadTopology(join(root, 'topologies', 'two-node.yaml'));
    const before = labNamespaces(lab.name).length;
    await expect(
      provider.up(topo, { name: lab.name, proxy: 'none', progress: 'silent' }),
    ).rejects.toThrow(/already exists/);
    expect(labNamespaces(lab.name).length).toBe(before);
    expect(existsSync(join(labDir(lab.name), 'state.json'))).toBe(true);
  });
});

describe.skipIf(skip)('two labs at once', () => {
  it('run side by side without interfering, and down removes only its own lab', async () => {
    const topo = await loadTopology(join(root, 'topologies', 'two-node.yaml'));
    const rootLinksBefore = (await run('ip', ['-o', 'link', 'show'])).stdout;
    const [l1, l2] = await Promise.all([
      provider.up(topo, {
        name: uniqueLabName('one'),
        proxy: 'none',
        progress: 'silent',
        ephemeral: true,
      }),
      provider.up(topo, {
        name: uniqueLabName('two'),
        proxy: 'none',
        progress: 'silent',
        ephemeral: true,
      }),
    ]);
    try {
      // Same addresses in both labs: they must not see each other.
      const [o1, o2] = await Promise.all([
        l1.probe('client-a', l1.destination('web-b:8080'), { count: 3 }),
        l2.probe('client-a', l2.destination('web-b:8080'), { count: 3 }),
      ]);
      await expectLab(l1).answeredBy(o1, ['web-b']);
      await expectLab(l2).answeredBy(o2, ['web-b']);
      const pids1 = agentPids(l1.name);
      expect(pids1.length).toBe(6); // one per namespace: 2 nodes, 3 pods, 1 external host
      const report = await l1.down();
      expect(report.errors).toEqual([]);
      expect(labNamespaces(l1.name)).toEqual([]);
      expect(agentPids(l1.name)).toEqual([]);
      expect(existsSync(labDir(l1.name))).toBe(false);
      expect(pids1.filter((p) => existsSync(`/proc/${p}`))).toEqual([]);
      // The other lab is untouched.
      await expectLab(l2).answeredBy(
        await l2.probe('client-a', l2.destination('web-b:8080'), { count: 2 }),
        ['web-b'],
      );
    } finally {
      await l1.down();
      await l2.down();
    }
    expect(labNamespaces(l2.name)).toEqual([]);
    // Every interface lived inside the labs' namespaces: the host's list is as it was.
    expect((await run('ip', ['-o', 'link', 'show'])).stdout).toBe(rootLinksBefore);
  });
});
