import { describe, expect, it } from 'vitest';
import { pollBackoff } from './poll.js';

describe('pollBackoff', () => {
  it('starts short and grows by the factor up to the maximum', async () => {
    const b = pollBackoff({ firstMs: 1, maxMs: 5, factor: 2 });
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      seen.push(b.nextMs());
      await b.pause();
    }
    expect(seen).toEqual([1, 2, 4, 5, 5]);
  });

  it('defaults to 20 ms, x1.5, at most 500 ms', async () => {
    expect(pollBackoff().nextMs()).toBe(20);
    const b = pollBackoff({ firstMs: 300 });
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      seen.push(b.nextMs());
      await b.pause();
    }
    expect(seen).toEqual([300, 450, 500]);
  });
});
