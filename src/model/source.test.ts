import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { suiteConfig } from '../harness/config.js';
import { TopologyError } from './issues.js';
import { topologyOfSource, topologyPath } from './source.js';

const dir = mkdtempSync(join(tmpdir(), 'svclab-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const doc = {
  apiVersion: 'svclab.dev/v1alpha1',
  kind: 'Topology',
  metadata: { name: 'mine' },
  spec: { nodes: [{ name: 'n1' }], pods: [{ name: 'p1', node: 'n1' }] },
};

describe('topologyOfSource', () => {
  it("reads a path relative to the user's project, not svclab's folder", async () => {
    writeFileSync(join(dir, 'three-node.yaml'), JSON.stringify(doc));
    expect(topologyPath('three-node.yaml', dir)).toBe(join(dir, 'three-node.yaml'));
    expect((await topologyOfSource('three-node.yaml', { cwd: dir })).name).toBe('mine');
  });

  it('falls back to a topology svclab ships when the project has no such file', async () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    expect((await topologyOfSource('two-node.yaml', { cwd: empty })).name).toBe('two-node');
  });

  it('validates a document written in code, naming the bad field', async () => {
    const t = await topologyOfSource(doc);
    expect(t.pods.map((p) => p.name)).toEqual(['p1']);
    const bad = { ...doc, spec: { ...doc.spec, pods: [{ name: 'p1', node: 'nope' }] } };
    const err = await topologyOfSource(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TopologyError);
    expect((err as Error).message).toContain('spec.pods[0].node');
  });

  it('copies a loaded topology, so a lab changing it leaves the caller’s alone', async () => {
    const loaded = await topologyOfSource(doc);
    const copy = await topologyOfSource(loaded);
    expect(copy).toEqual(loaded);
    expect(copy).not.toBe(loaded);
  });
});

describe('suiteConfig', () => {
  it('takes the proxy from the options before the environment', () => {
    const env = { SVCLAB_PROXY: 'nftables', SVCLAB_SYNC: 'full' };
    expect(suiteConfig(env)).toMatchObject({ proxy: 'nftables', label: 'nftables' });
    expect(
      suiteConfig(env, { proxy: 'iptables', proxyOptions: { iptablesBackend: 'legacy' } }),
    ).toMatchObject({
      proxy: 'iptables',
      proxyOptions: { syncStrategy: 'full', iptablesBackend: 'legacy' },
      label: 'iptables/full/legacy',
    });
  });
});
