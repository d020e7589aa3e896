import { describe, expect, it } from 'vitest';
import type { Attempt, FlowStatus } from '../traffic/protocol.js';
import {
  closedOutcome,
  judgeExchange,
  judgeStream,
  judgeUdp,
  summarizeNewConnections,
} from './outcome.js';

const status = (o: Partial<FlowStatus>): FlowStatus => ({
  flowId: 'stream-1',
  kind: 'stream',
  open: true,
  backends: ['web-1'],
  messages: 10,
  lastBackend: 'web-1',
  sinceLastMessageMs: 10,
  ...o,
});
const ok = (backend: string): Attempt => ({ ok: true, backend, latencyMs: 2, startedAtMs: 0 });
const failed = (failure: Attempt['failure'], detail = ''): Attempt => ({
  ok: false,
  failure,
  detail,
  latencyMs: 500,
  startedAtMs: 0,
});
const stream = {
  before: 'web-1',
  messagesAtUpdate: 10,
  aliveMs: 1500,
  freshMs: 500,
  stallMs: 2000,
};

describe('judgeStream', () => {
  it('is undecided while the alive window runs, however many heartbeats came', () => {
    expect(
      judgeStream(status({ messages: 30 }), { ...stream, sinceUpdateMs: 400 }),
    ).toBeUndefined();
  });

  it('survived: heartbeats from the same backend still arrive at the end of the window', () => {
    expect(judgeStream(status({ messages: 40 }), { ...stream, sinceUpdateMs: 1500 })?.outcome).toBe(
      'survived',
    );
  });

  it('moved: heartbeats from another backend (not possible for one TCP connection, but reported as seen)', () => {
    const st = status({ messages: 40, lastBackend: 'web-2' });
    expect(judgeStream(st, { ...stream, sinceUpdateMs: 1500 })).toMatchObject({
      outcome: 'moved',
      after: 'web-2',
    });
  });

  it.each([
    ['reset', 'reset'],
    ['eof', 'closed'],
    ['timeout', 'stalled'],
  ] as const)('a stream closed with %s is %s, whatever came before', (reason, outcome) => {
    const st = status({ open: false, messages: 30, closed: { reason, atMs: 900, detail: 'x' } });
    expect(judgeStream(st, { ...stream, sinceUpdateMs: 50 })?.outcome).toBe(outcome);
  });

  it('not alive when the heartbeats stopped after the update (ACKs dropped: the window filled)', () => {
    const st = status({ messages: 20, sinceLastMessageMs: 900 });
    expect(judgeStream(st, { ...stream, sinceUpdateMs: 1500 })).toBeUndefined();
    expect(
      judgeStream({ ...st, sinceLastMessageMs: 2000 }, { ...stream, sinceUpdateMs: 2600 })?.outcome,
    ).toBe('stalled');
  });

  it('stalled: open, but silent for the stall bound', () => {
    const st = status({ messages: 10, sinceLastMessageMs: 2100 });
    expect(judgeStream(st, { ...stream, sinceUpdateMs: 2050 })?.outcome).toBe('stalled');
  });
});

describe('judgeExchange (idle keep-alive connection)', () => {
  it('survived / moved by the answering backend', () => {
    expect(judgeExchange(ok('web-1'), { before: 'web-1', decidedAfterMs: 5 }).outcome).toBe(
      'survived',
    );
    expect(judgeExchange(ok('web-2'), { before: 'web-1', decidedAfterMs: 5 }).outcome).toBe(
      'moved',
    );
  });

  it('how the connection closed while idle decides a failed request', () => {
    const closed = { reason: 'eof' as const, atMs: 10, detail: 'FIN' };
    expect(
      judgeExchange(failed('error', 'connection already closed'), {
        before: 'web-1',
        decidedAfterMs: 5,
        closed,
      }).outcome,
    ).toBe('closed');
    expect(judgeExchange(failed('reset'), { before: 'web-1', decidedAfterMs: 5 }).outcome).toBe(
      'reset',
    );
    expect(judgeExchange(failed('timeout'), { before: 'web-1', decidedAfterMs: 5 }).outcome).toBe(
      'stalled',
    );
  });
});

describe('judgeUdp', () => {
  it('the first answer decides, and says how many datagrams were lost before it', () => {
    const r = judgeUdp([failed('timeout'), ok('web-2')], { before: 'web-1', decidedAfterMs: 700 });
    expect(r).toMatchObject({ outcome: 'moved', after: 'web-2' });
    expect(r.evidence).toContain('after 1 unanswered');
  });

  it('no answer: the last failure decides (ICMP port unreachable is refused; silence is stalled)', () => {
    expect(
      judgeUdp([failed('timeout'), failed('refused')], { before: 'web-1', decidedAfterMs: 1 })
        .outcome,
    ).toBe('refused');
    expect(
      judgeUdp([failed('timeout'), failed('timeout')], { before: 'web-1', decidedAfterMs: 1 })
        .outcome,
    ).toBe('stalled');
  });
});

describe('closedOutcome', () => {
  it('maps an error close by its failure kind', () => {
    expect(closedOutcome({ reason: 'error', failure: 'unreachable', atMs: 1 })).toBe('unreachable');
    expect(closedOutcome({ reason: 'error', atMs: 1 })).toBe('error');
  });
});

describe('summarizeNewConnections', () => {
  it('counts failures before the first success and times it', () => {
    const r = summarizeNewConnections([
      { attempt: failed('refused'), endMs: 3 },
      { attempt: failed('refused'), endMs: 30 },
      { attempt: ok('web-2'), endMs: 61.4 },
    ]);
    expect(r).toEqual({
      ok: true,
      firstOkMs: 61,
      backend: 'web-2',
      attempts: 3,
      failures: { refused: 2 },
    });
  });

  it('reports no success when none came', () => {
    expect(summarizeNewConnections([{ attempt: failed('timeout'), endMs: 1000 }])).toEqual({
      ok: false,
      attempts: 1,
      failures: { timeout: 1 },
    });
  });
});
