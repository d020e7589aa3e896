import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectLab } from '../../assertions/index.js';
import { uniqueLabName } from '../../harness/lab-fixture.js';
import { skipWhen } from '../../harness/skip.js';
import { loadTopology } from '../../model/index.js';
import { run } from '../../exec/index.js';
import type { Lab } from '../lab.js';
import { labDir } from '../state.js';
import { docker, dockerUnavailable } from './client.js';
import { ensureNodeImage } from './image.js';
import { bridgeName, LABEL_LAB, labFilter } from './labels.js';
import { DockerProvider } from './provider.js';

const root = join(import.meta.dirname, '..', '..', '..');
const provider = new DockerProvider();

/** Why this file cannot run here (no root, no dockerd, no node image), printed when it skips. */
async function whySkip(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return skipWhen('root', 'needs root');
  const site = { provider: 'docker' };
  const why = await dockerUnavailable();
  if (why) return skipWhen('docker', why, site);
  try {
    await ensureNodeImage();
  } catch (err) {
    return skipWhen(
      'docker',
      `the node image cannot be built: ${err instanceof Error ? err.message : String(err)}`,
      site,
    );
  }
  return undefined;
}
const skip = await whySkip();

async function labObjects(lab: string) {
  const containers = await docker().listContainers({ all: true, filters: labFilter(lab) });
  const networks = await docker().listNetworks({ filters: labFilter(lab) });
  return { containers, networks };
}

describe.skipIf(skip)('docker provider (iptables)', () => {
  let lab: Lab;
  beforeAll(async () => {
    const topo = await loadTopology(join(root, 'topologies', 'two-node.yaml'));
    lab = await provider.up(topo, {
      name: uniqueLabName('dk'),
      proxy: 'iptables',
      progress: 'silent',
      ephemeral: true,
    });
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('labels every container and the network with the lab name', async () => {
    const { containers, networks } = await labObjects(lab.name);
    expect(containers.map((c) => c.Labels['svclab.target']).sort()).toEqual([
      'client',
      'node-a',
      'node-b',
    ]);
    for (const c of containers) expect(c.Labels[LABEL_LAB]).toBe(lab.name);
    expect(networks).toHaveLength(1);
    const net = await docker().getNetwork(networks[0]!.Id).inspect();
    expect(net.Internal).toBe(true);
    expect(net.Labels?.[LABEL_LAB]).toBe(lab.name);
    expect(net.IPAM?.Config?.[0]).toMatchObject({ Subnet: '172.18.0.0/24', Gateway: '172.18.0.1' });
  });

  it('puts pods in their own namespaces inside the node container, wired as in the netns lab', async () => {
    const addr = await lab.exec('web-a', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addr.stdout).toContain(`inet ${lab.target('web-a').ip}/32`);
    const route = await lab.exec('web-a', ['ip', 'route', 'show', 'default']);
    expect(route.stdout).toMatch(/default via 169\.254\.1\.1 dev eth0/);
    const node = await lab.exec('node-a', ['ip', 'route', 'show']);
    expect(node.stdout).toMatch(/10\.244\.\d+\.0\/24 via 172\.18\.0\.\d+ dev eth0/);
  });

  it('routes pod -> ClusterIP across nodes, keeping the pod source address', async () => {
    const obs = await lab.probe('client-a', lab.service('web').clusterIP('http'), { count: 12 });
    await expectLab(lab).answeredBy(obs, ['web-a', 'web-b']);
    await expectLab(lab).sourcePreserved(obs, lab.target('client-a').ip);
  });

  it('lets an external host container reach a NodePort on every node', async () => {
    for (const node of ['node-a', 'node-b']) {
      const obs = await lab.probe('client', lab.service('web').nodePort('http', node), {
        count: 6,
      });
      await expectLab(lab).answeredBy(obs, ['web-a', 'web-b']);
    }
  });

  it('programs the rules inside the node container, not on the host', async () => {
    const rules = await lab.exec('node-a', ['iptables-nft-save', '-t', 'nat']);
    expect(rules.stdout).toContain('KUBE-SERVICES');
    const host = await run('iptables-nft-save', ['-t', 'nat'], { allowFailure: true });
    expect(host.stdout).not.toContain('KUBE-SERVICES');
  });

  it('down removes every labelled container, the network and its host bridge', async () => {
    const name = lab.name;
    const report = await lab.down();
    expect(report.errors).toEqual([]);
    const { containers, networks } = await labObjects(name);
    expect(containers).toEqual([]);
    expect(networks).toEqual([]);
    const links = await run('ip', ['-o', 'link', 'show']);
    expect(links.stdout).not.toContain(bridgeName(name));
  });
});

describe.skipIf(skip)('docker provider crash safety', () => {
  it('sweeps a lab whose state is gone, by label alone', async () => {
    const topo = await loadTopology(join(root, 'topologies', 'two-node.yaml'));
    const lab = await provider.up(topo, {
      name: uniqueLabName('dks'),
      proxy: 'none',
      progress: 'silent',
      ephemeral: true,
    });
    try {
      // A crash that lost the state folder: only the labels say what belongs to the lab.
      await rm(labDir(lab.name), { recursive: true, force: true });
      expect(await provider.list()).toContain(lab.name);
      const reports = await provider.sweep();
      const report = reports.find((r) => r.lab === lab.name);
      expect(report?.errors).toEqual([]);
      expect(report?.removed).toEqual(
        expect.arrayContaining([
          `network svclab.${lab.name}`,
          `container svclab.${lab.name}.node-a`,
        ]),
      );
      expect(await labObjects(lab.name)).toEqual({ containers: [], networks: [] });
    } finally {
      await provider.down(lab.name);
    }
  });
});
