import { describe, expect, it } from 'vitest';
import { parseHeartbeat } from './stream-flow.js';

describe('parseHeartbeat', () => {
  it('reads `<seq> <hostname> <clientip:port>`', () => {
    expect(parseHeartbeat('17 web-b 10.244.2.3:51234')).toEqual({
      seq: 17,
      backend: 'web-b',
      sourceIP: '10.244.2.3',
      sourcePort: 51234,
    });
    expect(parseHeartbeat('1 web-a [fd00::5]:80')).toMatchObject({
      sourceIP: 'fd00::5',
      sourcePort: 80,
    });
  });

  it.each(['', 'x web-a 1.2.3.4:5', '1 web-a', '1 web-a 1.2.3.4', '1  1.2.3.4:5', '1 a b c'])(
    'ignores %j',
    (line) => {
      expect(parseHeartbeat(line)).toBeUndefined();
    },
  );
});
