import { describe, expect, it } from 'vitest';
import { parseControlLine } from './protocol.js';

describe('parseControlLine', () => {
  it.each([
    ['{"id":1,"op":"info"}', { op: 'info', id: 1 }],
    ['{"op":"drain"}', { op: 'drain', id: 0 }],
    ['{"op":"set-ready","ready":false}', { op: 'set-ready', ready: false, id: 0 }],
    [
      '{"id":2,"op":"probe","host":"10.96.0.10","port":80,"protocol":"udp","count":5,"sourcePort":40000,"extra":true}',
      {
        op: 'probe',
        id: 2,
        host: '10.96.0.10',
        port: 80,
        protocol: 'udp',
        count: 5,
        sourcePort: 40000,
      },
    ],
    [
      '{"id":3,"op":"flow-send","flowId":"conn-1","timeoutMs":500}',
      { op: 'flow-send', id: 3, flowId: 'conn-1', timeoutMs: 500 },
    ],
    [
      '{"id":4,"op":"read-file","path":"/proc/net/nf_conntrack"}',
      { op: 'read-file', id: 4, path: '/proc/net/nf_conntrack' },
    ],
    [
      '{"id":5,"op":"stream-open","host":"h","port":1,"intervalMs":50}',
      { op: 'stream-open', id: 5, host: 'h', port: 1, intervalMs: 50 },
    ],
  ])('accepts %s', (line, request) => {
    expect(parseControlLine(line)).toEqual({ ok: true, id: request.id, request });
  });

  it.each([
    ['not json', -1, /malformed JSON/],
    ['[1,2]', -1, /JSON object/],
    ['null', -1, /JSON object/],
    ['{"id":"x","op":"info"}', -1, /"id" must be/],
    ['{"id":7,"op":"explode"}', 7, /unknown op "explode"/],
    ['{"id":7}', 7, /unknown op/],
    ['{"id":8,"op":"probe","host":"h","port":80}', 8, /"protocol" must be/],
    ['{"id":9,"op":"set-ready","ready":"yes"}', 9, /"ready" must be true or false/],
    [
      '{"id":8,"op":"probe","host":"h","port":70000,"protocol":"tcp"}',
      8,
      /"port" must be an integer in \[1, 65535\]/,
    ],
    ['{"id":8,"op":"probe","port":80,"protocol":"tcp"}', 8, /"host" must be a non-empty string/],
    ['{"id":8,"op":"probe","host":"h","port":80,"protocol":"tcp","count":0}', 8, /"count"/],
    ['{"id":8,"op":"probe","host":"h","port":80,"protocol":"tcp","count":1.5}', 8, /"count"/],
    [
      '{"id":8,"op":"probe","host":"h","port":80,"protocol":"tcp","concurrency":100000}',
      8,
      /"concurrency"/,
    ],
    ['{"id":9,"op":"flow-status"}', 9, /"flowId" is|"flowId" must/],
    ['{"id":9,"op":"read-file","path":""}', 9, /"path"/],
    ['{"id":9,"op":"stream-open","host":"h","port":1,"intervalMs":1}', 9, /"intervalMs"/],
  ])('rejects %s', (line, id, error) => {
    const parsed = parseControlLine(line);
    expect(parsed.ok).toBe(false);
    expect(parsed.id).toBe(id);
    if (!parsed.ok) expect(parsed.error).toMatch(error);
  });

  it('never throws on random input', () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const alphabet = '{}[]":,0123456789abcdefghijklmnopqrstuvwxyz-_ .\\\n\u0000\u00ff';
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(rand() * 80);
      let s = i % 3 === 0 ? '{"op":"probe",' : '';
      for (let j = 0; j < len; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
      expect(() => parseControlLine(s)).not.toThrow();
    }
  });
});
