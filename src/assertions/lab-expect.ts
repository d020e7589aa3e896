import type { Lab, Observation } from '../cluster/lab.js';
import * as v from './verdicts.js';

/** Thrown when an observation does not match; names the dump that shows why. */
export class ObservationError extends Error {
  override readonly name = 'ObservationError';
  constructor(
    message: string,
    readonly observation: Observation,
    readonly dumpDir: string | undefined,
  ) {
    super(message);
  }
}

/**
 * Assertions bound to a lab: on failure they write the lab's diagnostic dump (rules, sets,
 * conntrack, routes, agent logs, commands) and put its path in the message.
 */
export function expectLab(lab: Lab) {
  const check = async (obs: Observation, verdict: v.Verdict, what: string): Promise<void> => {
    if (verdict.pass) return;
    const headline = `${what}: ${obs.from} -> ${obs.to.description} (${obs.to.protocol}, proxy ${lab.proxyMode})`;
    let dir: string | undefined;
    try {
      dir = await lab.dump({ reason: `${headline}\n${verdict.message}`, observations: [obs] });
    } catch (err) {
      dir = undefined;
      verdict = {
        ...verdict,
        message: `${verdict.message}\n(dump failed: ${err instanceof Error ? err.message : String(err)})`,
      };
    }
    throw new ObservationError(
      `${headline}\n${verdict.message}${dir ? `\ndiagnostic dump: ${dir}` : ''}`,
      obs,
      dir,
    );
  };
  return {
    allAnswered: (o: Observation) => check(o, v.allAnswered(o.attempts), 'not all answered'),
    answeredBy: (o: Observation, backends: string[], opts?: { all?: boolean }) =>
      check(o, v.answeredBy(o.attempts, backends, opts), 'wrong backends'),
    sourcePreserved: (o: Observation, clientIP: string) =>
      check(o, v.sourcePreserved(o.attempts, clientIP), 'source not preserved'),
    sourceNatted: (o: Observation, opts: { clientIP: string; to?: string[] }) =>
      check(o, v.sourceNatted(o.attempts, opts), 'source not translated'),
    affinityHolds: (o: Observation) =>
      check(o, v.affinityHolds(o.attempts), 'affinity did not hold'),
    affinityBroken: (o: Observation) =>
      check(o, v.affinityBroken(o.attempts), 'affinity still held'),
    spreadEvenly: (o: Observation, backends: string[]) =>
      check(o, v.spreadEvenly(o.attempts, backends), 'answers not spread'),
    rejected: (o: Observation) => check(o, v.rejected(o.attempts), 'not rejected'),
    notAnswered: (o: Observation) => check(o, v.notAnswered(o.attempts), 'unexpectedly answered'),
    droppedSilently: (o: Observation) => check(o, v.droppedSilently(o.attempts), 'not dropped'),
  };
}

export type LabExpect = ReturnType<typeof expectLab>;
