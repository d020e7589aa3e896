/**
 * An incremental HTTP/1.1 response parser for the agent's client side. The agent speaks raw
 * HTTP over its own sockets (not node:http) so that it controls exactly which connection
 * carries which request (the /hostname + /clientip pair must share one conntrack flow) and can
 * tell a RST from a FIN from a stall, which node:http folds into "socket hang up".
 *
 * Every buffer is bounded: a peer that sends an endless header or chunk-size line gets an
 * HttpParseError, never an ever-growing buffer.
 */

export interface ResponseHead {
  status: number;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Map<string, string>;
}

export interface ResponseHandlers {
  onHead(head: ResponseHead): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
}

export class HttpParseError extends Error {
  readonly code = 'EPROTO';
}

export const WIRE_LIMITS = { maxHeadBytes: 16 * 1024, maxLineBytes: 1024 } as const;

type State =
  'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close';

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');

export class ResponseParser {
  private state: State = 'head';
  private buf: Buffer = Buffer.alloc(0);
  private remaining = 0;

  /** `next()` hands out the handlers for the next response on the connection, in order. */
  constructor(private readonly next: () => ResponseHandlers | undefined) {}

  private current: ResponseHandlers | undefined;

  /** True between the first byte of a response and its end. */
  get inResponse(): boolean {
    return this.state !== 'head' || this.buf.length > 0;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.step()) {
      // keep consuming complete elements
    }
  }

  /**
   * The peer closed its side. Returns true if that completed a response whose body runs until
   * the close; false if no response was in progress. Throws if a response was cut short.
   */
  eof(): boolean {
    if (this.state === 'until-close') {
      this.finish();
      return true;
    }
    if (!this.inResponse) return false;
    throw new HttpParseError(`connection closed in the middle of a response (${this.state})`);
  }

  private finish(): void {
    const handlers = this.current;
    this.current = undefined;
    this.state = 'head';
    handlers?.onEnd();
  }

  private data(n: number): void {
    const part = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.current?.onData(part);
  }

  /** Consumes one element; false when more input is needed. */
  private step(): boolean {
    switch (this.state) {
      case 'head':
        return this.parseHead();
      case 'length':
      case 'chunk-data': {
        if (this.buf.length === 0) return false;
        const n = Math.min(this.remaining, this.buf.length);
        this.remaining -= n;
        this.data(n);
        if (this.remaining > 0) return false;
        if (this.state === 'length') this.finish();
        else this.state = 'chunk-crlf';
        return true;
      }
      case 'chunk-crlf': {
        if (this.buf.length < 2) return false;
        if (this.buf[0] !== 0x0d || this.buf[1] !== 0x0a) {
          throw new HttpParseError('chunk not followed by CRLF');
        }
        this.buf = this.buf.subarray(2);
        this.state = 'chunk-size';
        return true;
      }
      case 'chunk-size': {
        const line = this.takeLine(WIRE_LIMITS.maxLineBytes, 'chunk-size line');
        if (line === undefined) return false;
        const sizeText = line.split(';', 1)[0]?.trim() ?? '';
        if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) {
          throw new HttpParseError(`bad chunk size ${JSON.stringify(sizeText.slice(0, 32))}`);
        }
        this.remaining = parseInt(sizeText, 16);
        this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
        return true;
      }
      case 'trailers': {
        const line = this.takeLine(WIRE_LIMITS.maxHeadBytes, 'trailer');
        if (line === undefined) return false;
        if (line === '') this.finish();
        return true;
      }
      case 'until-close':
        if (this.buf.length === 0) return false;
        this.data(this.buf.length);
        return false;
    }
  }

  private takeLine(limit: number, what: string): string | undefined {
    const end = this.buf.indexOf(CRLF);
    if (end < 0) {
      if (this.buf.length > limit) throw new HttpParseError(`${what} longer than ${limit} bytes`);
      return undefined;
    }
    const line = this.buf.subarray(0, end).toString('latin1');
    this.buf = this.buf.subarray(end + 2);
    return line;
  }

  private parseHead(): boolean {
    if (this.buf.length === 0) return false;
    const end = this.buf.indexOf(CRLFCRLF);
    if (end < 0) {
      if (this.buf.length > WIRE_LIMITS.maxHeadBytes) {
        throw new HttpParseError(`response head longer than ${WIRE_LIMITS.maxHeadBytes} bytes`);
      }
      return false;
    }
    const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
    this.buf = this.buf.subarray(end + 4);
    const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!statusLine) {
      throw new HttpParseError(`bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 64))}`);
    }
    const status = Number(statusLine[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0)
        throw new HttpParseError(`bad header line ${JSON.stringify(line.slice(0, 64))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const prev = headers.get(name);
      headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
    }
    // 1xx responses are interim: the real response follows on the same connection.
    if (status >= 100 && status < 200) return true;
    this.current = this.next();
    this.current?.onHead({ status, headers });
    const te = headers.get('transfer-encoding');
    const cl = headers.get('content-length');
    if (status === 204 || status === 304) {
      this.finish();
    } else if (te !== undefined && te.toLowerCase().split(',').pop()?.trim() === 'chunked') {
      this.state = 'chunk-size';
    } else if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl))
        throw new HttpParseError(`bad content-length ${JSON.stringify(cl)}`);
      this.remaining = Number(cl);
      if (this.remaining === 0) this.finish();
      else this.state = 'length';
    } else {
      this.state = 'until-close';
    }
    return true;
  }
}

/** Formats a GET request; `close` asks the server to close after answering. */
export function formatGet(path: string, hostHeader: string, close = false): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: svclab-agent\r\n` +
    `Accept: */*\r\n${close ? 'Connection: close\r\n' : ''}\r\n`
  );
}
