import { describe, expect, it } from 'vitest';
import { HttpParseError, ResponseParser, type ResponseHandlers } from './http-wire.js';

/** Collects responses; `split` feeds the input in pieces of that size to exercise resumption. */
function parse(input: string, split = input.length || 1) {
  const done: { status: number; body: string }[] = [];
  let status = 0;
  let body = '';
  const handlers: ResponseHandlers = {
    onHead: (h) => {
      status = h.status;
      body = '';
    },
    onData: (c) => {
      body += c.toString('latin1');
    },
    onEnd: () => done.push({ status, body }),
  };
  const parser = new ResponseParser(() => handlers);
  const buf = Buffer.from(input, 'latin1');
  for (let i = 0; i < buf.length; i += split) parser.push(buf.subarray(i, i + split));
  return { done, parser };
}

const twoResponses =
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nweb-a' +
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n10.0\r\nA\r\n.0.1:40000\r\n0\r\nX-T: 1\r\n\r\n';

describe('ResponseParser', () => {
  it.each([1, 2, 3, 7, 1000])(
    'parses content-length and chunked responses fed %i bytes at a time',
    (split) => {
      expect(parse(twoResponses, split).done).toEqual([
        { status: 200, body: 'web-a' },
        { status: 200, body: '10.0.0.1:40000' },
      ]);
    },
  );

  it('skips 1xx interim responses and ends 204 without a body', () => {
    const { done } = parse(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.0 503 Nope\r\nContent-Length: 0\r\n\r\n',
    );
    expect(done).toEqual([
      { status: 204, body: '' },
      { status: 503, body: '' },
    ]);
  });

  it('ends a body without length at EOF', () => {
    const { done, parser } = parse('HTTP/1.1 200 OK\r\n\r\nuntil close');
    expect(done).toEqual([]);
    expect(parser.eof()).toBe(true);
    expect(done).toEqual([{ status: 200, body: 'until close' }]);
  });

  it('reports a response cut short by EOF, and no response at all as false', () => {
    expect(() => parse('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc').parser.eof()).toThrow(
      HttpParseError,
    );
    expect(parse('').parser.eof()).toBe(false);
  });

  it.each([
    ['garbage status line', 'SSH-2.0-OpenSSH\r\n\r\n'],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['missing chunk CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc'],
    ['bad content-length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'],
    ['endless head', `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(20_000)}`],
    [
      'endless chunk-size line',
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'0'.repeat(2000)}`,
    ],
  ])('rejects %s with a bounded buffer', (_name, input) => {
    expect(() => parse(input)).toThrow(HttpParseError);
  });
});
