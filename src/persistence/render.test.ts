import { describe, expect, it } from 'vitest';
import type { MatrixReport, ModeReport } from './matrix.js';
import { cellText, renderMarkdown, renderText } from './render.js';
import type { EventResult } from './scenario.js';

const flow = (kind: 'stream' | 'conn' | 'udp', outcome: 'survived' | 'moved', after = 'web-1') => ({
  kind,
  outcome,
  before: 'web-1',
  after,
  decidedAfterMs: 1,
  evidence: 'x',
});
const result: EventResult = {
  event: 'endpoint-removed',
  title: 'serving endpoint removed',
  serving: 'web-1',
  pinned: true,
  updateMs: 40,
  flows: {
    stream: flow('stream', 'survived'),
    conn: flow('conn', 'survived'),
    udp: flow('udp', 'moved', 'web-2'),
  },
  newConnection: { ok: true, firstOkMs: 3, backend: 'web-2', attempts: 1, failures: {} },
  notes: [],
  durationMs: 300,
};
const mode = (m: Partial<ModeReport>): ModeReport => ({
  mode: 'nftables',
  proxy: 'nftables',
  proxyOptions: {},
  kernel: '6.18.0',
  where: 'host',
  status: 'ran',
  events: [result],
  failures: [],
  knownBugs: [],
  labUpMs: [900],
  durationMs: 5000,
  ...m,
});
const report: MatrixReport = {
  apiVersion: 'svclab.dev/v1alpha1',
  kind: 'PersistenceMatrix',
  generatedAt: '2026-01-01T00:00:00Z',
  machine: { kernel: '6.18.0', node: 'v20', cpus: 2, cpuModel: 'x', memoryGiB: 4, at: '' },
  topology: '/x/topologies/persistence.yaml',
  watch: { stallMs: 2000, aliveMs: 1500, heartbeatMs: 50, udpTries: 3, connectTimeoutMs: 1000 },
  events: [{ id: 'endpoint-removed', title: 'serving endpoint removed' }],
  knownBugs: [{ id: 'stale-udp-conntrack', issues: [48370], title: 'stale UDP' }],
  modes: [
    mode({
      knownBugs: [
        {
          id: 'stale-udp-conntrack',
          issues: [48370],
          title: 'stale UDP',
          status: 'not-reproduced',
          summary: 'moved',
          evidence: ['conntrack line'],
          durationMs: 1,
        },
      ],
    }),
    mode({
      mode: 'ipvs',
      proxy: 'ipvs',
      status: 'skipped',
      reason: 'the kernel has no IP_VS',
      events: [],
    }),
  ],
};

describe('render', () => {
  it('a cell names each flow outcome, where a moved flow went, and the timings', () => {
    expect(cellText(result)).toBe('survived / survived / moved (web-2) · update 40 + new 3 ms');
  });

  it('an event the lab cannot run is a skip with its reason, not a failure', () => {
    expect(cellText(undefined, undefined, 'needs --allow-proxy-restart')).toBe(
      'skipped: needs --allow-proxy-restart',
    );
  });

  it('Markdown: rows events, columns modes, the kernel, skipped modes with their reason, known bugs with evidence', () => {
    const md = renderMarkdown(report);
    expect(md).toContain('| event | nftables | ipvs (skipped) |');
    expect(md).toContain(
      '| serving endpoint removed (`endpoint-removed`) | survived / survived / moved (web-2) · update 40 + new 3 ms | – |',
    );
    expect(md).toContain('kernel 6.18.0 (host: nftables)');
    expect(md).toContain('**ipvs** not measured: the kernel has no IP_VS');
    expect(md).toContain('[#48370](https://github.com/kubernetes/kubernetes/issues/48370)');
    expect(md).toContain('**not-reproduced**: moved');
    expect(md).toContain('conntrack line');
  });

  it('a failed event shows its error instead of outcomes', () => {
    const md = renderMarkdown({
      ...report,
      modes: [
        mode({
          events: [],
          failures: [{ event: 'endpoint-removed', error: 'failed to open the stream flow' }],
        }),
      ],
    });
    expect(md).toContain('failed: failed to open the stream flow');
  });

  it('text table for the terminal', () => {
    expect(renderText(report).split('\n')[0]).toMatch(/^EVENT\s+NFTABLES\s+IPVS$/);
  });
});
