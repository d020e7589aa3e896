import { describe, expect, it } from 'vitest';
import { compareVariants, kubeProxyVariants, renderComparison } from './compare.js';
import type { MatrixReport, ModeReport } from './matrix.js';
import { mergeReports } from './matrix.js';
import { modeConfig, needsIpvs, parseModes } from './modes.js';
import type { EventResult } from './scenario.js';

const event = (udp: 'survived' | 'moved', updateMs: number): EventResult => {
  const flow = (kind: 'stream' | 'conn' | 'udp', outcome: 'survived' | 'moved') => ({
    kind,
    outcome,
    before: 'web-1',
    after: outcome === 'moved' ? 'web-2' : 'web-1',
    decidedAfterMs: 1,
    evidence: 'x',
  });
  return {
    event: 'endpoint-removed',
    title: 'serving endpoint removed',
    serving: 'web-1',
    pinned: true,
    updateMs,
    flows: {
      stream: flow('stream', 'survived'),
      conn: flow('conn', 'survived'),
      udp: flow('udp', udp),
    },
    newConnection: { ok: true, firstOkMs: 3, backend: 'web-2', attempts: 1, failures: {} },
    notes: [],
    durationMs: 300,
  };
};
const run = (
  variant: string,
  udp: 'survived' | 'moved',
  bug: 'reproduced' | 'not-reproduced',
  ms: number,
): ModeReport => ({
  mode: 'kube-proxy-nftables',
  variant,
  kubeVersion: variant,
  kubeProxyBinary: `/var/cache/svclab/kube/${variant}/bin/kube-proxy`,
  proxy: 'nftables',
  proxyOptions: {},
  kernel: '6.18.0',
  where: 'host',
  status: 'ran',
  events: [event(udp, ms)],
  failures: [],
  knownBugs: [
    {
      id: 'stale-udp-conntrack',
      issues: [48370],
      title: 'stale UDP',
      status: bug,
      summary: '',
      evidence: [],
      durationMs: 1,
    },
  ],
  labUpMs: [7000],
  durationMs: 60000,
});
const report = (modes: ModeReport[]): MatrixReport => ({
  apiVersion: 'svclab.dev/v1alpha1',
  kind: 'PersistenceMatrix',
  generatedAt: '2026-12-03T00:00:00Z',
  machine: { kernel: '6.18.0', node: 'v20', cpus: 2, cpuModel: 'x', memoryGiB: 4, at: '' },
  topology: 'persistence.yaml',
  watch: { stallMs: 2000, aliveMs: 1500, heartbeatMs: 50, udpTries: 3, connectTimeoutMs: 1000 },
  events: [{ id: 'endpoint-removed', title: 'serving endpoint removed' }],
  knownBugs: [{ id: 'stale-udp-conntrack', issues: [48370], title: 'stale UDP' }],
  modes,
});

describe('kube-proxy modes in the matrix', () => {
  it('run the real kube-proxy in its mode, IPVS through the kernel check', () => {
    expect(modeConfig('kube-proxy-ipvs')).toEqual({
      proxy: 'ipvs',
      proxyOptions: {},
      kubeProxy: { mode: 'ipvs' },
    });
    expect(needsIpvs('kube-proxy-ipvs')).toBe(true);
    expect(needsIpvs('kube-proxy-nftables')).toBe(false);
    expect(parseModes('kube-proxy-iptables,nftables')).toEqual(['kube-proxy-iptables', 'nftables']);
  });
});

describe('kubeProxyVariants', () => {
  it('one per release times binary; none when neither is given', () => {
    expect(kubeProxyVariants(undefined, undefined)).toEqual([]);
    expect(kubeProxyVariants('1.36.3, v1.37.2', [])).toEqual([
      { label: 'v1.36.3', kubeVersion: 'v1.36.3', kubeProxyBinary: undefined },
      { label: 'v1.37.2', kubeVersion: 'v1.37.2', kubeProxyBinary: undefined },
    ]);
    expect(
      kubeProxyVariants(undefined, ['/a/kube-proxy', '/b/kube-proxy']).map((v) => v.label),
    ).toEqual(['/a/kube-proxy', '/b/kube-proxy']);
  });
  it('refuses a bad or repeated release with the flag named', () => {
    expect(() => kubeProxyVariants('v1.37', undefined)).toThrow(/--kube-version: Invalid value/);
    expect(() => kubeProxyVariants('v1.37.2,1.37.2', undefined)).toThrow(
      /--kube-version: a release is given twice/,
    );
  });
});

describe('compareVariants', () => {
  it('reports outcomes that differ, never timings', () => {
    const r = report([
      run('v1.36.3', 'moved', 'reproduced', 40),
      run('v1.37.2', 'moved', 'not-reproduced', 400),
    ]);
    expect(compareVariants(r)).toEqual([
      {
        mode: 'kube-proxy-nftables',
        item: 'known-bug:stale-udp-conntrack',
        verdicts: {
          'kube-proxy-nftables@v1.36.3': 'reproduced',
          'kube-proxy-nftables@v1.37.2': 'not-reproduced',
        },
      },
    ]);
    const md = renderComparison(r);
    expect(md).toContain(
      '| kube-proxy-nftables | `known-bug:stale-udp-conntrack` | reproduced | not-reproduced |',
    );
    expect(md).toContain('| `endpoint-removed` | 40 | 400 |');
  });
  it('says so when nothing differs', () => {
    const r = report([
      run('v1.36.3', 'moved', 'reproduced', 40),
      run('v1.37.2', 'moved', 'reproduced', 50),
    ]);
    expect(compareVariants(r)).toEqual([]);
    expect(renderComparison(r)).toContain('No event or known-bug case has a different outcome.');
  });
  it('merging keeps both variants of a mode as columns', () => {
    const a = report([run('v1.36.3', 'moved', 'reproduced', 40)]);
    const b = report([run('v1.37.2', 'survived', 'reproduced', 40)]);
    expect(mergeReports(a, b).modes.map((m) => m.variant)).toEqual(['v1.36.3', 'v1.37.2']);
  });
});
