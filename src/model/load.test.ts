import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { TopologyError } from './issues.js';
import { loadTopology, parseTopology } from './load.js';

const TOPOLOGIES = fileURLToPath(new URL('../../topologies/', import.meta.url));

describe('shipped topologies', () => {
  test('two-node resolves with the documented allocations', async () => {
    const t = await loadTopology(join(TOPOLOGIES, 'two-node.yaml'));
    expect(t.nodes.map((n) => [n.name, n.ip, n.podCIDR])).toEqual([
      ['node-a', '172.18.0.2', '10.244.0.0/24'],
      ['node-b', '172.18.0.3', '10.244.1.0/24'],
    ]);
    expect(t.pods.map((p) => [p.name, p.ip])).toEqual([
      ['web-a', '10.244.0.2'],
      ['web-b', '10.244.1.2'],
      ['client-a', '10.244.0.3'],
    ]);
    expect(t.services.map((s) => [s.name, s.clusterIP])).toEqual([['web', '10.96.0.10']]);
    expect(t.externalHosts).toEqual([{ name: 'client', ip: '172.18.0.200', routes: [] }]);
    expect(t.warnings).toEqual([]);
  });

  test('three-node resolves, routes external VIPs via node-a, and warns only about `empty`', async () => {
    const t = await loadTopology(join(TOPOLOGIES, 'three-node.yaml'));
    const pod = (name: string) => t.pods.find((p) => p.name === name);
    expect(pod('web-a')?.ip).toBe('10.244.0.2');
    expect(pod('client-a')?.ip).toBe('10.244.0.3');
    expect(pod('host-c')).toMatchObject({ ip: '172.18.0.4', hostNetwork: true });
    expect(t.nodes.find((n) => n.name === 'node-b')?.ip).toBe('172.18.0.3');
    expect(t.services.map((s) => s.clusterIP)).toEqual(
      ['10', '11', '12', '13', '14', '15', '16', '17', '18'].map((o) => `10.96.0.${o}`),
    );
    const webLocal = t.services.find((s) => s.name === 'web-local');
    expect(webLocal).toMatchObject({
      externalTrafficPolicy: 'Local',
      loadBalancerIPs: ['172.18.200.10'],
      // LoadBalancer + Local: a healthCheckNodePort, allocated (the lowest free nodePort) and
      // marked so, since the file leaves it out; no other Service has one.
      healthCheckNodePort: 30000,
      healthCheckNodePortAllocated: true,
    });
    expect(t.services.filter((s) => s.healthCheckNodePort !== undefined)).toEqual([webLocal]);
    expect(t.externalHosts).toEqual([
      {
        name: 'client',
        ip: '172.18.0.200',
        routes: [
          { to: '172.18.100.10/32', via: '172.18.0.2' },
          { to: '172.18.100.20/32', via: '172.18.0.2' },
          { to: '172.18.200.10/32', via: '172.18.0.2' },
          { to: '172.18.200.20/32', via: '172.18.0.2' },
          { to: '172.18.200.30/32', via: '172.18.0.2' },
        ],
      },
    ]);
    expect(t.warnings).toEqual([
      {
        path: 'spec.services[5].spec.selector',
        message: 'selects no pod: the Service has no endpoints',
        severity: 'warning',
      },
    ]);
    expect(t.services[5]?.name).toBe('empty');
  });
});

describe('parseTopology', () => {
  const minimal = (extra: string) =>
    `apiVersion: svclab.dev/v1alpha1\nkind: Topology\nmetadata: { name: t }\nspec:\n  nodes: [{ name: node-a }]\n${extra}`;

  test('reports every issue, each as <file>: <path>: <message>', () => {
    const text = minimal(
      '  pods: [{ name: p, node: nope }]\n  externalHosts: [{ name: p, routeVia: nope }]\n',
    );
    const err = catchError(() => parseTopology(text, { file: 'lab.yaml' }));
    expect(err.file).toBe('lab.yaml');
    expect(err.issues.map((i) => i.path)).toEqual([
      'spec.externalHosts[0].name',
      'spec.pods[0].node',
      'spec.externalHosts[0].routeVia',
    ]);
    expect(err.message.split('\n')).toEqual([
      'invalid topology lab.yaml: 3 errors',
      'lab.yaml: spec.externalHosts[0].name: Duplicate value: "p": already used by spec.pods[0] (nodes, pods and external hosts share one name space)',
      'lab.yaml: spec.pods[0].node: Not found: "nope": no such node (nodes: node-a)',
      'lab.yaml: spec.externalHosts[0].routeVia: Not found: "nope": no such node (nodes: node-a)',
    ]);
  });

  test('YAML syntax errors carry the line', () => {
    const err = catchError(() => parseTopology('a: [1, 2\nb: 3\n', { file: 'x.yaml' }));
    expect(err.lines[0]).toMatch(/^x\.yaml: YAML syntax error: .* at line \d+, column \d+$/);
  });

  test('a single unnamed port is named "" and targets its own port', () => {
    const t = parseTopology(
      minimal(
        '  services: [{ metadata: { name: s }, spec: { ports: [{ port: 53, protocol: UDP }] } }]\n',
      ),
    );
    expect(t.services[0]?.ports).toEqual([{ name: '', protocol: 'UDP', port: 53, targetPort: 53 }]);
    expect(t.warnings.map((w) => w.path)).toEqual(['spec.services[0].spec.selector']);
  });

  test('ClusterIP Services with externalIPs may set externalTrafficPolicy, as in Kubernetes', () => {
    const t = parseTopology(
      minimal(
        '  services: [{ metadata: { name: s }, spec: { selector: { a: b }, externalIPs: [203.0.113.9], externalTrafficPolicy: Local, ports: [{ port: 80 }] } }]\n',
      ),
    );
    expect(t.services[0]?.externalTrafficPolicy).toBe('Local');
  });

  test('explicit addresses are skipped by allocation', () => {
    const t = parseTopology(
      minimal('  externalHosts: [{ name: e1, ip: 172.18.0.200 }, { name: e2 }]\n').replace(
        '[{ name: node-a }]',
        '[{ name: node-a, ip: 172.18.0.2 }, { name: node-b }]',
      ),
    );
    expect(t.nodes.map((n) => n.ip)).toEqual(['172.18.0.2', '172.18.0.3']);
    expect(t.externalHosts.map((h) => h.ip)).toEqual(['172.18.0.200', '172.18.0.201']);
  });

  test('what svclab allocated is marked; what the file pinned (or shares with a pinned sibling) is not', () => {
    const t = parseTopology(
      minimal(
        [
          '  services:',
          '    - metadata: { name: pinned }',
          '      spec: { type: NodePort, clusterIP: 10.96.0.50, ports: [{ name: u, protocol: UDP, port: 53 }, { name: t, protocol: TCP, port: 53, nodePort: 30053 }] }',
          '    - metadata: { name: free }',
          '      spec: { type: NodePort, ports: [{ name: u, protocol: UDP, port: 53 }, { name: t, protocol: TCP, port: 53 }] }',
          '',
        ].join('\n'),
      ),
    );
    const [pinned, free] = t.services;
    expect(pinned).toMatchObject({ clusterIP: '10.96.0.50' });
    expect(pinned?.clusterIPAllocated).toBeUndefined();
    expect(pinned?.ports.map((p) => [p.nodePort, p.nodePortAllocated])).toEqual([
      [30053, undefined],
      [30053, undefined],
    ]);
    expect(free).toMatchObject({ clusterIP: '10.96.0.10', clusterIPAllocated: true });
    expect(free?.ports.map((p) => [p.nodePort, p.nodePortAllocated])).toEqual([
      [30000, true],
      [30000, true],
    ]);
  });
});

describe('loadTopology', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svclab-model-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('names the file by the path it was given', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'apiVersion: v1\nkind: Topology\n');
    await expect(loadTopology(path)).rejects.toThrow(
      `${path}: apiVersion: Unsupported value: "v1"`,
    );
  });

  test('a large file is refused by its size, without reading it', async () => {
    const path = join(dir, 'sparse.yaml');
    writeFileSync(path, '');
    truncateSync(path, 10 * 1024 ** 3); // sparse: 10 GiB that would take a while to read
    const err = await loadTopology(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TopologyError);
    expect((err as TopologyError).lines).toEqual([
      `${path}: is 10737418240 bytes; a topology file may be at most 1048576 bytes (1 MiB)`,
    ]);
  });

  test('a device that never ends is read only up to the limit', async () => {
    const err = await loadTopology('/dev/zero').catch((e: unknown) => e);
    expect((err as TopologyError).lines).toEqual([
      '/dev/zero: is larger than 1048576 bytes; a topology file may be at most 1048576 bytes (1 MiB)',
    ]);
  });

  test('a missing file is a read error, not a TopologyError', async () => {
    await expect(loadTopology(join(dir, 'absent.yaml'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

function catchError(fn: () => unknown): TopologyError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TopologyError) return e;
    throw e;
  }
  throw new Error('expected a TopologyError');
}
