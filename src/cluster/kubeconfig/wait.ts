import { setTimeout as delay } from 'node:timers/promises';
import { LabError } from '../../exec/index.js';

/**
 * Polls `check` until it returns undefined (done) or the deadline passes; `check` returns what is
 * still missing, and the error names it. A wait strategy with a deadline, not a sleep.
 */
export async function waitFor(
  what: string,
  check: () => Promise<string | undefined>,
  opts: { timeoutMs: number; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let missing: string | undefined = 'not checked yet';
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      missing = await check();
      if (missing === undefined) return;
    } catch (err) {
      lastError = err;
      missing = err instanceof Error ? err.message : String(err);
    }
    await delay(opts.intervalMs ?? 500);
  }
  throw new LabError(
    `timed out after ${opts.timeoutMs} ms waiting for ${what}: ${missing}`,
    lastError ? { cause: lastError } : undefined,
  );
}
