import { afterEach, describe, expect, it, vi } from 'vitest';

type OwnedLabs = typeof import('./owned-labs.js');
const added: ((signal: NodeJS.Signals) => void)[] = [];
afterEach(() => {
  for (const l of added.splice(0)) {
    process.off('SIGINT', l);
    process.off('SIGTERM', l);
  }
  vi.restoreAllMocks();
  // The handler removed above is not to be taken for installed by a later test.
  delete (globalThis as Record<symbol, unknown>)[Symbol.for('svclab.owned-labs')];
});

/** A fresh instance of the module, as a test runner that isolates test files evaluates it. */
async function freshInstance(): Promise<OwnedLabs> {
  vi.resetModules();
  return import('./owned-labs.js');
}

describe('owned labs', () => {
  it('one SIGINT handler per process, however many module instances: the running file’s labs are removed before the exit', async () => {
    const before = process.listeners('SIGINT');
    // The first test file: owned a lab and removed it; its map is empty now.
    const first = await freshInstance();
    first.ownLab('first', () => Promise.resolve());
    first.disownLab('first');
    // The file running when Ctrl-C comes.
    const current = await freshInstance();
    const events: string[] = [];
    current.ownLab('current', async () => {
      events.push('teardown started');
      await new Promise((r) => setImmediate(r));
      events.push('teardown done');
    });
    const mine = process.listeners('SIGINT').filter((l) => !before.includes(l));
    added.push(...(mine as (typeof added)[number][]));
    expect(mine).toHaveLength(1);
    const exited = new Promise<number>((resolve) =>
      vi.spyOn(process, 'exit').mockImplementation(((code: number) => {
        events.push(`exit ${code}`);
        resolve(code);
      }) as typeof process.exit),
    );
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    for (const l of mine) l('SIGINT');
    expect(await exited).toBe(130);
    expect(events).toEqual(['teardown started', 'teardown done', 'exit 130']);
    expect(current.ownedLabs()).toEqual(['current']);
    current.disownLab('current');
  });
});
