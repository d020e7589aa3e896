import { describe, expect, it } from 'vitest';
import { diffSnapshots, hostNetworkSnapshot } from './host-snapshot.js';
import { skipWhen } from './skip.js';

describe.skipIf(skipWhen('root', process.getuid?.() !== 0 && 'needs root'))('host snapshot', () => {
  it('is stable when nothing changes, so the isolation check can only fail on a real change', async () => {
    const a = await hostNetworkSnapshot();
    const b = await hostNetworkSnapshot();
    expect(diffSnapshots(a, b)).toEqual([]);
    expect(a.links).toMatch(/\blo\b/);
  });

  it('names the section that differs', () => {
    const diff = diffSnapshots({ routes: 'a', links: 'x' }, { routes: 'b', links: 'x' });
    expect(diff).toHaveLength(1);
    expect(diff[0]).toContain('host routes changed');
  });
});
