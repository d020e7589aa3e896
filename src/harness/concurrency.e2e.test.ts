import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { skipWhen } from './skip.js';

// Two suite runs at the same time, each with its own labs (names carry the runner's pid): neither
// may see the other's namespaces, rules or traffic.
const root = join(import.meta.dirname, '..', '..');
const vitest = join(root, 'node_modules', '.bin', 'vitest');

describe.skipIf(skipWhen('root', process.getuid?.() !== 0 && 'needs root'))('concurrency', () => {
  it('two suite runs at once both pass', async () => {
    const runSuite = (suite: string, proxy: string) =>
      execa(vitest, ['run', '--project', 'e2e', `suites/${suite}`], {
        cwd: root,
        env: { SVCLAB_PROXY: proxy, NO_COLOR: '1', FORCE_COLOR: '0' },
        reject: false,
        all: true,
      });
    const [a, b] = await Promise.all([
      runSuite('cross-node', 'iptables'),
      runSuite('hairpin', 'nftables'),
    ]);
    expect(a.exitCode, a.all).toBe(0);
    expect(b.exitCode, b.all).toBe(0);
    // Both really ran tests (a run that skipped everything would also exit 0).
    expect(a.all).toMatch(/Tests\s+6 passed/);
    expect(b.all).toMatch(/Tests\s+3 passed/);
  }, 120_000);
});
