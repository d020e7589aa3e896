import type { Attempt, FailureKind } from '../traffic/protocol.js';
import { chiSquareUniform } from './stats.js';

/**
 * Pure checks over observations. Each returns a verdict with a message that says what was
 * expected and what was seen, so a failure reads without rerunning anything.
 */
export interface Verdict {
  pass: boolean;
  message: string;
}

const ok = (message: string): Verdict => ({ pass: true, message });
const fail = (message: string): Verdict => ({ pass: false, message });

export function tally<T extends string>(values: (T | undefined)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v ?? '<none>'] = (out[v ?? '<none>'] ?? 0) + 1;
  return out;
}

function answered(attempts: Attempt[]) {
  return attempts.filter((a) => a.ok);
}

function seen(attempts: Attempt[]): string {
  const failures = tally(
    attempts.filter((a) => !a.ok).map((a) => a.failure as FailureKind | undefined),
  );
  return `answered ${answered(attempts).length}/${attempts.length}; backends ${JSON.stringify(tally(answered(attempts).map((a) => a.backend)))}; sources seen ${JSON.stringify(tally(answered(attempts).map((a) => a.sourceIP)))}${Object.keys(failures).length ? `; failures ${JSON.stringify(failures)}` : ''}`;
}

export function allAnswered(attempts: Attempt[]): Verdict {
  const n = answered(attempts).length;
  return n === attempts.length && n > 0
    ? ok(`all ${n} attempts answered`)
    : fail(`expected every attempt to be answered: ${seen(attempts)}`);
}

/** Every attempt answered, and only by these backends (all of them, when `all` is set). */
export function answeredBy(
  attempts: Attempt[],
  backends: string[],
  opts: { all?: boolean } = {},
): Verdict {
  const a = allAnswered(attempts);
  if (!a.pass) return a;
  const got = new Set(attempts.map((x) => x.backend!));
  const unexpected = [...got].filter((b) => !backends.includes(b));
  if (unexpected.length > 0)
    return fail(
      `expected answers only from ${backends.join(', ')}, also got ${unexpected.join(', ')}: ${seen(attempts)}`,
    );
  const missing = backends.filter((b) => !got.has(b));
  if (opts.all && missing.length > 0)
    return fail(
      `expected answers from each of ${backends.join(', ')}, none from ${missing.join(', ')}: ${seen(attempts)}`,
    );
  return ok(`answered by ${[...got].join(', ')}`);
}

/** The backend saw the client's own address: no SNAT on the path. */
export function sourcePreserved(attempts: Attempt[], clientIP: string): Verdict {
  const a = allAnswered(attempts);
  if (!a.pass) return a;
  const other = attempts.filter((x) => x.sourceIP !== clientIP);
  return other.length === 0
    ? ok(`source ${clientIP} preserved`)
    : fail(
        `expected the backend to see the client's own IP ${clientIP} (source preserved): ${seen(attempts)}`,
      );
}

/** The backend saw a translated source: not the client's address, and (if given) one of `to`. */
export function sourceNatted(
  attempts: Attempt[],
  opts: { clientIP: string; to?: string[] },
): Verdict {
  const a = allAnswered(attempts);
  if (!a.pass) return a;
  const leaked = attempts.filter((x) => x.sourceIP === opts.clientIP);
  if (leaked.length > 0)
    return fail(
      `expected SNAT (source not ${opts.clientIP}), but the backend saw the client's IP: ${seen(attempts)}`,
    );
  if (opts.to) {
    const wrong = attempts.filter((x) => !opts.to!.includes(x.sourceIP ?? ''));
    if (wrong.length > 0)
      return fail(
        `expected the source to be translated to ${opts.to.join(' or ')}: ${seen(attempts)}`,
      );
  }
  return ok(`source translated${opts.to ? ` to ${opts.to.join(' or ')}` : ''}`);
}

/** Kubernetes e2e's criterion for ClientIP affinity: at least 15 answers in a row, all from one backend. */
export const AFFINITY_CONFIRM_COUNT = 15;

export function affinityHolds(attempts: Attempt[], confirm = AFFINITY_CONFIRM_COUNT): Verdict {
  const a = allAnswered(attempts);
  if (!a.pass) return a;
  if (attempts.length < confirm)
    return fail(`need at least ${confirm} attempts to confirm affinity, got ${attempts.length}`);
  const backends = new Set(attempts.map((x) => x.backend));
  return backends.size === 1
    ? ok(`all ${attempts.length} answers from ${[...backends][0]}`)
    : fail(`expected ${attempts.length} identical answers (ClientIP affinity): ${seen(attempts)}`);
}

/** Affinity does not hold: answers came from more than one backend. */
export function affinityBroken(attempts: Attempt[]): Verdict {
  const a = allAnswered(attempts);
  if (!a.pass) return a;
  const backends = new Set(attempts.map((x) => x.backend));
  return backends.size > 1
    ? ok(`answers from ${backends.size} backends`)
    : fail(`expected answers from more than one backend (no affinity): ${seen(attempts)}`);
}

/**
 * Answers spread over exactly `backends`, consistent with a uniform choice: every backend seen,
 * no other, and a chi-square test that does not reject uniformity at `alpha` (default 0.001, so a
 * fair proxy fails this about once in a thousand runs).
 */
export function spreadEvenly(attempts: Attempt[], backends: string[], alpha = 0.001): Verdict {
  const by = answeredBy(attempts, backends, { all: true });
  if (!by.pass) return by;
  const counts = backends.map((b) => attempts.filter((x) => x.backend === b).length);
  const { statistic, pValue } = chiSquareUniform(counts);
  return pValue >= alpha
    ? ok(
        `spread ${JSON.stringify(Object.fromEntries(backends.map((b, i) => [b, counts[i]])))} (chi2 ${statistic.toFixed(2)}, p ${pValue.toFixed(4)})`,
      )
    : fail(
        `expected a uniform spread over ${backends.join(', ')} (chi-square p ${pValue.toExponential(2)} < ${alpha}): ${seen(attempts)}`,
      );
}

/** Refused at once (REJECT / ICMP unreachable / RST), not left to time out. */
export function rejected(attempts: Attempt[]): Verdict {
  const notRefused = attempts.filter((x) => x.ok || x.failure !== 'refused');
  return notRefused.length === 0 && attempts.length > 0
    ? ok(`all ${attempts.length} attempts refused`)
    : fail(
        `expected every attempt to be refused at once (not answered, not timed out): ${seen(attempts)}`,
      );
}

/** Not answered at all (dropped or refused), e.g. Local traffic policy on a node without local endpoints. */
export function notAnswered(attempts: Attempt[]): Verdict {
  const got = answered(attempts);
  return got.length === 0 && attempts.length > 0
    ? ok(
        `none of ${attempts.length} attempts answered (${JSON.stringify(tally(attempts.map((a) => a.failure)))})`,
      )
    : fail(`expected no answer: ${seen(attempts)}`);
}

/** Dropped silently: every attempt timed out (the signature of a DROP rule). */
export function droppedSilently(attempts: Attempt[]): Verdict {
  const other = attempts.filter((x) => x.ok || x.failure !== 'timeout');
  return other.length === 0 && attempts.length > 0
    ? ok(`all ${attempts.length} attempts timed out`)
    : fail(`expected every attempt to be dropped (time out): ${seen(attempts)}`);
}

export function describeAttempts(attempts: Attempt[]): string {
  return seen(attempts);
}
