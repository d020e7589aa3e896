import { setTimeout as delay } from 'node:timers/promises';
import { tcpAttempt, udpAttempt } from './attempt.js';
import { PROBE_DEFAULTS, type Attempt, type ProbeRequest, type ProbeResult } from './protocol.js';

/**
 * Runs `count` attempts with at most `concurrency` in flight. With a fixed `sourcePort` the
 * attempts run one after the other, each socket closed before the next bind: two sockets cannot
 * share the port, and upstream's UDP tests depend on reusing it for the same conntrack tuple.
 * When `signal` aborts (the control connection went away) no new attempt starts.
 */
export async function runProbe(req: ProbeRequest, signal: AbortSignal): Promise<ProbeResult> {
  const count = req.count ?? PROBE_DEFAULTS.count;
  const concurrency =
    req.sourcePort !== undefined
      ? 1
      : Math.min(req.concurrency ?? PROBE_DEFAULTS.concurrency, count);
  const intervalMs = req.intervalMs ?? PROBE_DEFAULTS.intervalMs;
  const attemptOnce = req.protocol === 'tcp' ? tcpAttempt : udpAttempt;
  const target = {
    host: req.host,
    port: req.port,
    timeoutMs: req.timeoutMs ?? PROBE_DEFAULTS.timeoutMs,
    sourcePort: req.sourcePort,
    epoch: performance.now(),
  };
  const attempts: Attempt[] = new Array<Attempt>(count);
  let next = 0;
  const worker = async () => {
    while (!signal.aborted) {
      const i = next++;
      if (i >= count) return;
      attempts[i] = await attemptOnce(target);
      if (intervalMs > 0 && next < count) {
        await delay(intervalMs, undefined, { signal }).catch(() => undefined);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { attempts: attempts.filter((a) => a !== undefined) };
}
