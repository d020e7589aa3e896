import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The pause between two reads of a state that is being waited for: short at first (most waits
 * end within a few reads), then growing to `maxMs`. A read is not free for what is read: a
 * kube-proxy metrics scrape renders about 100 KB of text in kube-proxy (several milliseconds on
 * this host, far more under QEMU TCG), and kube-proxy's own CPU seconds are a figure the scale
 * bench reports. Polling every 20 ms through a sync of many seconds would add hundreds of scrapes
 * to the sync being measured or waited for; backing off keeps that to a few dozen.
 */
export function pollBackoff(opts: { firstMs?: number; maxMs?: number; factor?: number } = {}): {
  pause: () => Promise<void>;
  nextMs: () => number;
} {
  const max = opts.maxMs ?? 500;
  const factor = opts.factor ?? 1.5;
  let ms = opts.firstMs ?? 20;
  return {
    nextMs: () => ms,
    pause: async () => {
      const now = ms;
      ms = Math.min(max, ms * factor);
      await sleep(now);
    },
  };
}
