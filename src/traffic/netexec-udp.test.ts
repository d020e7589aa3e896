import { describe, expect, it } from 'vitest';
import { udpAnswer } from './netexec-udp.js';

describe('udpAnswer (agnhost netexec UDP commands)', () => {
  it.each([
    ['hostname', 'web-a'],
    ['  HOSTNAME\n', 'web-a'],
    ['clientip', '10.244.1.5:40000'],
    ['echo Hello World', 'hello world'],
    ['echo', ''],
  ])('%j -> %j', (cmd, want) => {
    expect(udpAnswer(Buffer.from(cmd), '10.244.1.5:40000', 'web-a')).toBe(want);
  });

  it('ignores empty datagrams and answers unknown commands with an error string', () => {
    expect(udpAnswer(Buffer.from(' \n'), 'p', 'h')).toBeUndefined();
    expect(udpAnswer(Buffer.from([0xff, 0x00, 0x41]), 'p', 'h')).toMatch(
      /^error: unknown command "\?+a"/,
    );
    expect(udpAnswer(Buffer.alloc(70_000, 0x61), 'p', 'h')?.length).toBeLessThan(200);
  });
});
