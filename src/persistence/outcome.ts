import type { Attempt, FailureKind, FlowStatus } from '../traffic/protocol.js';

/**
 * What happened to one long-lived flow across an update, in the words of the persistence matrix.
 * `survived`: still answered by the backend it had before; `moved`: answered by another one (UDP
 * only: a TCP connection cannot change backend); `reset`: RST; `closed`: the server ended it (FIN,
 * e.g. its process went away); `refused` / `unreachable`: ICMP errors (UDP); `stalled`: no
 * answer within the stall bound; `error`: anything else (see detail).
 */
export type FlowOutcome =
  'survived' | 'moved' | 'reset' | 'closed' | 'refused' | 'unreachable' | 'stalled' | 'error';

export type FlowKind = 'stream' | 'conn' | 'udp';

/** Display names in tables: the TCP heartbeat stream, the idle keep-alive TCP connection, UDP. */
export const FLOW_LABELS: Record<FlowKind, string> = {
  stream: 'TCP stream',
  conn: 'idle TCP',
  udp: 'UDP',
};

export interface FlowResult {
  kind: FlowKind;
  outcome: FlowOutcome;
  /** Backend the flow talked to before the update. */
  before: string;
  /** Backend that answered after the update, if any did. */
  after?: string | undefined;
  /** Milliseconds from the end of the update to the observation that decided the outcome. */
  decidedAfterMs: number;
  /** What was seen, for a reader who doubts the verdict. */
  evidence: string;
}

function failureOutcome(failure: FailureKind | undefined): FlowOutcome {
  switch (failure) {
    case 'reset':
      return 'reset';
    case 'refused':
      return 'refused';
    case 'unreachable':
      return 'unreachable';
    case 'timeout':
      return 'stalled';
    default:
      return 'error';
  }
}

/** How a closed flow ended, as an outcome. */
export function closedOutcome(closed: NonNullable<FlowStatus['closed']>): FlowOutcome {
  switch (closed.reason) {
    case 'reset':
      return 'reset';
    case 'eof':
      return 'closed';
    case 'timeout':
      return 'stalled';
    default:
      return closed.failure ? failureOutcome(closed.failure) : 'error';
  }
}

function answeredBy(backend: string, before: string): FlowOutcome {
  return backend === before ? 'survived' : 'moved';
}

/**
 * One snapshot of a heartbeat stream after the update: a verdict, or undefined while undecided.
 * Alive means heartbeats still arrive `aliveMs` after the update, the last one within `freshMs`:
 * a connection whose ACKs the update started dropping keeps receiving for a while (until the
 * server's congestion window is full), so a few early heartbeats prove nothing. Silence for
 * `stallMs` means stalled.
 */
export function judgeStream(
  st: FlowStatus,
  o: {
    before: string;
    messagesAtUpdate: number;
    sinceUpdateMs: number;
    aliveMs: number;
    freshMs: number;
    stallMs: number;
  },
): Omit<FlowResult, 'kind' | 'before'> | undefined {
  const beats = st.messages - o.messagesAtUpdate;
  const at = Math.round(o.sinceUpdateMs);
  if (st.closed) {
    const outcome = closedOutcome(st.closed);
    return {
      outcome,
      after: beats > 0 ? st.lastBackend : undefined,
      decidedAfterMs: at,
      evidence: `stream ended (${st.closed.reason ?? 'unknown'}: ${st.closed.detail ?? ''}) after ${beats} heartbeat(s) since the update`,
    };
  }
  if (
    o.sinceUpdateMs >= o.aliveMs &&
    beats > 0 &&
    st.sinceLastMessageMs <= o.freshMs &&
    st.lastBackend !== undefined
  ) {
    return {
      outcome: answeredBy(st.lastBackend, o.before),
      after: st.lastBackend,
      decidedAfterMs: at,
      evidence: `${beats} heartbeats in the ${at} ms since the update, the last from ${st.lastBackend} ${Math.round(st.sinceLastMessageMs)} ms ago`,
    };
  }
  if (st.sinceLastMessageMs >= o.stallMs) {
    return {
      outcome: 'stalled',
      decidedAfterMs: at,
      evidence: `no heartbeat for ${Math.round(st.sinceLastMessageMs)} ms (${beats} since the update; bound ${o.stallMs} ms), connection still open`,
    };
  }
  return undefined;
}

/**
 * One request on an idle keep-alive connection, sent after the update. `closed` is how the flow
 * ended, when it did: an RST or FIN that arrived while it sat idle decides the outcome.
 */
export function judgeExchange(
  a: Attempt,
  o: { before: string; decidedAfterMs: number; closed?: FlowStatus['closed'] },
): Omit<FlowResult, 'kind' | 'before'> {
  const at = Math.round(o.decidedAfterMs);
  if (a.ok && a.backend !== undefined) {
    return {
      outcome: answeredBy(a.backend, o.before),
      after: a.backend,
      decidedAfterMs: at,
      evidence: `answered by ${a.backend} in ${Math.round(a.latencyMs)} ms`,
    };
  }
  const outcome =
    o.closed && o.closed.reason !== 'client' ? closedOutcome(o.closed) : failureOutcome(a.failure);
  return {
    outcome,
    decidedAfterMs: at,
    evidence: `${a.failure ?? 'failed'}: ${a.detail ?? ''} after ${Math.round(a.latencyMs)} ms`,
  };
}

/**
 * Exchanges on a UDP flow after the update, in order: the first answer decides (a datagram or
 * two lost while IPVS expires a connection to a deleted real server is still a move); when none
 * came, the last failure does.
 */
export function judgeUdp(
  attempts: Attempt[],
  o: { before: string; decidedAfterMs: number },
): Omit<FlowResult, 'kind' | 'before'> {
  const at = Math.round(o.decidedAfterMs);
  const i = attempts.findIndex((a) => a.ok && a.backend !== undefined);
  if (i >= 0) {
    const a = attempts[i]!;
    const lost =
      i === 0
        ? ''
        : ` after ${i} unanswered datagram(s) (${attempts
            .slice(0, i)
            .map((x) => x.failure ?? 'failed')
            .join(', ')})`;
    return {
      outcome: answeredBy(a.backend!, o.before),
      after: a.backend,
      decidedAfterMs: at,
      evidence: `answered by ${a.backend}${lost}`,
    };
  }
  const last = attempts[attempts.length - 1];
  if (!last) return { outcome: 'error', decidedAfterMs: at, evidence: 'no exchange was attempted' };
  return {
    outcome: failureOutcome(last.failure),
    decidedAfterMs: at,
    evidence: `${attempts.length} datagram(s), none answered: ${attempts.map((x) => `${x.failure ?? 'failed'}${x.detail ? ` (${x.detail})` : ''}`).join('; ')}`,
  };
}

/** Time to the first successful NEW connection after an update, and what failed before it. */
export interface NewConnectionResult {
  ok: boolean;
  /** From the end of the update (every node synced) to the end of the first successful attempt. */
  firstOkMs?: number | undefined;
  backend?: string | undefined;
  attempts: number;
  failures: Partial<Record<FailureKind, number>>;
}

export function summarizeNewConnections(
  attempts: { attempt: Attempt; endMs: number }[],
): NewConnectionResult {
  const failures: Partial<Record<FailureKind, number>> = {};
  for (const [i, { attempt, endMs }] of attempts.entries()) {
    if (attempt.ok)
      return {
        ok: true,
        firstOkMs: Math.round(endMs),
        backend: attempt.backend,
        attempts: i + 1,
        failures,
      };
    const k = attempt.failure ?? 'error';
    failures[k] = (failures[k] ?? 0) + 1;
  }
  return { ok: false, attempts: attempts.length, failures };
}
