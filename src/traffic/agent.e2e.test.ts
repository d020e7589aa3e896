/**
 * The agent as a real child process on loopback: no namespaces needed, ports chosen by the
 * kernel (`--listen tcp:0,udp:0`, read back with `info`), control sockets in a mkdtemp folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../exec/index.js';
import { AgentClient, summarizeAttempts, waitForAgentReady } from './agent-client.js';
import type { AgentInfo, FlowStatus } from './protocol.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const agentJs = join(root, 'dist', 'traffic', 'agent.js');

/** dist/traffic is current when every source of src/traffic has a newer compiled file. */
function agentIsFresh(): boolean {
  const dir = join(root, 'src', 'traffic');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .every((f) => {
      const js = join(root, 'dist', 'traffic', f.replace(/\.ts$/, '.js'));
      return existsSync(js) && statSync(js).mtimeMs >= statSync(join(dir, f)).mtimeMs;
    });
}

async function ensureAgentBuilt(): Promise<void> {
  if (agentIsFresh()) return;
  // tsc compiles all of src; other folders' errors do not stop it from emitting ours.
  await run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json')], {
    allowFailure: true,
    timeoutMs: 180_000,
  });
  if (!agentIsFresh()) throw new Error(`building the agent did not produce a current ${agentJs}`);
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await delay(10);
  }
}

interface RunningAgent {
  name: string;
  child: ChildProcess;
  socket: string;
  client: AgentClient;
  info: AgentInfo;
  tcpPort: number;
  udpPort: number;
  /** Last stderr lines (bounded), and whether any reported an uncaught exception. */
  log: string[];
  sawUncaught: boolean;
  exited: Promise<number | null>;
}

const dir = mkdtempSync(join(tmpdir(), 'svclab-agent-'));
const agents: RunningAgent[] = [];
const servers: (net.Server | dgram.Socket)[] = [];

async function startAgent(name: string, extraArgs: string[] = []): Promise<RunningAgent> {
  const socket = join(dir, `${name}.sock`);
  const child = spawn(
    process.execPath,
    [
      agentJs,
      '--lab',
      'unit',
      '--name',
      name,
      '--hostname',
      name,
      '--control',
      socket,
      '--listen',
      'tcp:0,udp:0',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const partial: Partial<RunningAgent> = { log: [], sawUncaught: false };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    for (const line of text.split('\n').filter(Boolean)) {
      if (/uncaught|unhandled/.test(line)) partial.sawUncaught = true;
      partial.log!.push(line);
      if (partial.log!.length > 500) partial.log!.shift();
    }
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (t: string) => t.includes('ready') && resolve());
    child.once('exit', (code) =>
      reject(new Error(`agent ${name} exited with ${code}: ${partial.log!.join('\n')}`)),
    );
  });
  await Promise.race([
    ready,
    delay(15_000).then(() =>
      Promise.reject(new Error(`agent ${name} printed no "ready" within 15s`)),
    ),
  ]);
  const info = await waitForAgentReady(socket, { timeoutMs: 5000, pid: child.pid });
  const client = await AgentClient.connect(socket, { name });
  const port = (p: 'tcp' | 'udp') => info.listening.find((l) => l.protocol === p)!.port;
  const agent = Object.assign(partial, {
    name,
    child,
    socket,
    client,
    info,
    tcpPort: port('tcp'),
    udpPort: port('udp'),
    exited,
  }) as RunningAgent;
  agents.push(agent);
  return agent;
}

function httpGet(
  port: number,
  path: string,
): Promise<{ status: number; body: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    let localPort = 0;
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, localPort }));
    });
    req.on('socket', (s) => s.once('connect', () => (localPort = s.localPort ?? 0)));
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

function udpAsk(
  port: number,
  message: string | Buffer,
): Promise<{ answer: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no UDP answer to ${JSON.stringify(message.toString())}`));
    }, 5000);
    s.on('message', (m) => {
      clearTimeout(timer);
      const localPort = s.address().port;
      s.close();
      resolve({ answer: m.toString('utf8'), localPort });
    });
    s.bind(0, '127.0.0.1', () => s.send(message, port, '127.0.0.1'));
  });
}

/** A port nothing listens on: bind, read, release. */
async function closedPort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(r));
    return port;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A UDP socket that reads everything and answers nothing: a black hole on loopback. */
async function silentUdp(): Promise<number> {
  const s = dgram.createSocket('udp4');
  s.on('message', () => undefined);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  servers.push(s);
  return s.address().port;
}

/** A TCP server that accepts and never answers. */
async function silentTcp(): Promise<number> {
  const srv = net.createServer((sock) => sock.on('error', () => undefined));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  servers.push(srv);
  return (srv.address() as net.AddressInfo).port;
}

function vmRSSKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

let web: RunningAgent;

beforeAll(async () => {
  await ensureAgentBuilt();
  web = await startAgent('web-a');
}, 240_000);

afterAll(async () => {
  for (const a of agents) {
    await a.client.close().catch(() => undefined);
    if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
    await a.exited;
  }
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('agnhost-compatible HTTP server', () => {
  it('answers /hostname, /clientip (ip:port of the peer), /echo, /healthz, /readyz', async () => {
    expect(await httpGet(web.tcpPort, '/hostname')).toMatchObject({ status: 200, body: 'web-a' });
    const clientIP = await httpGet(web.tcpPort, '/clientip');
    expect(clientIP.body).toBe(`127.0.0.1:${clientIP.localPort}`);
    expect(await httpGet(web.tcpPort, '/echo?msg=hello%20world')).toMatchObject({
      status: 200,
      body: 'hello world',
    });
    expect(await httpGet(web.tcpPort, '/echo?msg=teapot&code=418')).toMatchObject({
      status: 418,
      body: 'teapot',
    });
    expect((await httpGet(web.tcpPort, '/healthz')).status).toBe(200);
    expect((await httpGet(web.tcpPort, '/readyz')).status).toBe(200);
    expect((await httpGet(web.tcpPort, '/anything')).body).toMatch(/^NOW: /);
  });
});

describe('agnhost-compatible UDP server', () => {
  it('answers hostname, clientip, echo, and an error string for unknown commands', async () => {
    expect((await udpAsk(web.udpPort, 'hostname')).answer).toBe('web-a');
    const clientIP = await udpAsk(web.udpPort, 'clientip');
    expect(clientIP.answer).toBe(`127.0.0.1:${clientIP.localPort}`);
    expect((await udpAsk(web.udpPort, 'echo hello')).answer).toBe('hello');
    expect((await udpAsk(web.udpPort, 'make coffee')).answer).toMatch(
      /^error: unknown command "make coffee"/,
    );
  });
});

describe('probe', () => {
  it('TCP: one new connection per attempt, backend and source seen by the backend', async () => {
    const { attempts } = await web.client.probe({
      host: '127.0.0.1',
      port: web.tcpPort,
      protocol: 'tcp',
      count: 12,
      concurrency: 3,
    });
    expect(summarizeAttempts(attempts)).toMatchObject({
      total: 12,
      ok: 12,
      backends: { 'web-a': 12 },
      sourceIPs: { '127.0.0.1': 12 },
    });
    for (const a of attempts) expect(a.sourcePort).toBe(a.localPort);
    expect(new Set(attempts.map((a) => a.localPort)).size).toBe(12);
  });

  it('UDP with a fixed source port: sequential sockets on that port', async () => {
    const sourcePort = await closedPort('udp');
    const { attempts } = await web.client.probe({
      host: '127.0.0.1',
      port: web.udpPort,
      protocol: 'udp',
      count: 4,
      concurrency: 4,
      sourcePort,
    });
    expect(attempts).toHaveLength(4);
    for (const a of attempts)
      expect(a).toMatchObject({
        ok: true,
        backend: 'web-a',
        sourceIP: '127.0.0.1',
        sourcePort,
        localPort: sourcePort,
      });
  });

  it('classifies a closed port as refused (TCP RST, ICMP port unreachable)', async () => {
    const tcp = await web.client.probe({
      host: '127.0.0.1',
      port: await closedPort('tcp'),
      protocol: 'tcp',
      count: 2,
    });
    expect(tcp.attempts.map((a) => a.failure)).toEqual(['refused', 'refused']);
    const udp = await web.client.probe({
      host: '127.0.0.1',
      port: await closedPort('udp'),
      protocol: 'udp',
      count: 2,
    });
    expect(udp.attempts.map((a) => a.failure)).toEqual(['refused', 'refused']);
  });

  it('classifies silence as timeout (a UDP black hole, a TCP server that never answers)', async () => {
    const udp = await web.client.probe({
      host: '127.0.0.1',
      port: await silentUdp(),
      protocol: 'udp',
      count: 2,
      concurrency: 2,
      timeoutMs: 200,
    });
    expect(udp.attempts).toEqual([
      expect.objectContaining({
        ok: false,
        failure: 'timeout',
        detail: expect.stringMatching(/no answer to "hostname"/),
      }),
      expect.objectContaining({ ok: false, failure: 'timeout' }),
    ]);
    const tcp = await web.client.probe({
      host: '127.0.0.1',
      port: await silentTcp(),
      protocol: 'tcp',
      timeoutMs: 200,
    });
    expect(tcp.attempts[0]).toMatchObject({
      ok: false,
      failure: 'timeout',
      detail: expect.stringMatching(/no HTTP response/),
    });
  });
});

describe('flows', () => {
  it('stream: heartbeats name the backend; SIGTERM drains, keeps the stream, then the close is reported', async () => {
    const backend = await startAgent('web-b', ['--delay-shutdown', '0.5']);
    const opened = await web.client.streamOpen({
      host: '127.0.0.1',
      port: backend.tcpPort,
      intervalMs: 20,
    });
    expect(opened.first).toMatchObject({
      ok: true,
      backend: 'web-b',
      sourceIP: '127.0.0.1',
      sourcePort: opened.localPort,
    });
    const flowing = await waitFor('3 heartbeats', async () => {
      const s = await web.client.flowStatus(opened.flowId);
      return s.messages >= 3 ? s : undefined;
    });
    expect(flowing).toMatchObject({
      kind: 'stream',
      open: true,
      backends: ['web-b'],
      lastBackend: 'web-b',
    });

    backend.child.kill('SIGTERM');
    await waitFor('/readyz 503 after SIGTERM', async () =>
      (await httpGet(backend.tcpPort, '/readyz')).status === 503 ? true : undefined,
    );
    expect((await httpGet(backend.tcpPort, '/hostname')).body).toBe('web-b');
    const during = (await web.client.flowStatus(opened.flowId)).messages;
    await waitFor('heartbeats while draining', async () => {
      const s = await web.client.flowStatus(opened.flowId);
      return s.open && s.messages > during ? true : undefined;
    });

    expect(await backend.exited).toBe(0);
    expect(existsSync(backend.socket)).toBe(false);
    const closed = await waitFor<FlowStatus>('the stream to be reported closed', async () => {
      const s = await web.client.flowStatus(opened.flowId);
      return s.open ? undefined : s;
    });
    expect(closed.closed).toMatchObject({ reason: 'eof', detail: expect.stringMatching(/FIN/) });
    expect(closed.closed?.failure).toBeUndefined();
    expect((await web.client.flowClose(opened.flowId)).open).toBe(false);
  });

  it('stream to a server that never answers fails to open with timeout', async () => {
    const opened = await web.client.streamOpen({
      host: '127.0.0.1',
      port: await silentTcp(),
      timeoutMs: 200,
    });
    expect(opened.first).toMatchObject({ ok: false, failure: 'timeout' });
    expect((await web.client.flowStatus(opened.flowId)).closed).toMatchObject({
      reason: 'timeout',
      failure: 'timeout',
    });
    await web.client.flowClose(opened.flowId);
  });

  it('conn: an idle keep-alive connection; a RST from the server is reported on the next send', async () => {
    const sockets: net.Socket[] = [];
    const fake = net.createServer((sock) => {
      sockets.push(sock);
      sock.on('error', () => undefined);
      sock.on('data', (d) => {
        for (const m of d.toString('latin1').matchAll(/^GET (\S+)/gm)) {
          const body =
            m[1] === '/clientip' ? `${sock.remoteAddress}:${sock.remotePort}` : 'fake-backend';
          sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    servers.push(fake);
    const port = (fake.address() as net.AddressInfo).port;

    const opened = await web.client.connOpen({ host: '127.0.0.1', port });
    expect(opened.first).toMatchObject({
      ok: true,
      backend: 'fake-backend',
      sourcePort: opened.localPort,
    });
    expect(await web.client.flowSend(opened.flowId)).toMatchObject({
      ok: true,
      backend: 'fake-backend',
      localPort: opened.localPort,
    });
    expect(sockets).toHaveLength(1);

    sockets[0]!.resetAndDestroy();
    await waitFor('the RST to be seen', async () =>
      (await web.client.flowStatus(opened.flowId)).open ? undefined : true,
    );
    expect(await web.client.flowSend(opened.flowId)).toMatchObject({ ok: false, failure: 'reset' });
    expect((await web.client.flowClose(opened.flowId)).closed).toMatchObject({
      reason: 'reset',
      failure: 'reset',
    });
  });

  it('udp: one socket with a fixed source port for every exchange', async () => {
    const sourcePort = await closedPort('udp');
    const opened = await web.client.udpOpen({ host: '127.0.0.1', port: web.udpPort, sourcePort });
    expect(opened).toMatchObject({
      localPort: sourcePort,
      first: { ok: true, backend: 'web-a', sourcePort },
    });
    for (let i = 0; i < 3; i++) {
      expect(await web.client.flowSend(opened.flowId)).toMatchObject({
        ok: true,
        backend: 'web-a',
        localPort: sourcePort,
      });
    }
    expect(await web.client.flowStatus(opened.flowId)).toMatchObject({
      kind: 'udp',
      open: true,
      messages: 4,
      backends: ['web-a'],
    });
    await web.client.flowClose(opened.flowId);
    await expect(web.client.flowStatus(opened.flowId)).rejects.toThrow(/unknown flow/);
  });
});

describe('control channel', () => {
  it('reads files as the namespace sees them, and reports missing ones', async () => {
    const status = await web.client.readFile('/proc/self/status');
    expect(status.content).toContain(`Pid:\t${web.info.pid}\n`);
    expect(status.truncated).toBe(false);
    await expect(web.client.readFile('/nonexistent/file')).rejects.toThrow(
      /agent "web-a" rejected "read-file": .*ENOENT/,
    );
  });

  it('names the agent, the op and the socket when a request misses its deadline', async () => {
    const slow = web.client.probe(
      { host: '127.0.0.1', port: await silentUdp(), protocol: 'udp', timeoutMs: 2000 },
      { timeoutMs: 50 },
    );
    await expect(slow).rejects.toThrow(
      `agent "web-a" did not answer "probe" within 50ms (socket ${web.socket})`,
    );
  });

  it('drain: /readyz answers 503 while everything else keeps serving', async () => {
    const drainer = await startAgent('web-c');
    expect((await drainer.client.drain()).draining).toBe(true);
    expect((await httpGet(drainer.tcpPort, '/readyz')).status).toBe(503);
    expect((await httpGet(drainer.tcpPort, '/hostname')).body).toBe('web-c');
    expect((await drainer.client.info()).draining).toBe(true);
  });
});

/** Sends raw lines on a fresh control connection and collects `expected` response lines. */
async function rawControl(
  socketPath: string,
  payload: Buffer | string,
  expected: number,
): Promise<{ id: number; ok: boolean; error?: string }[]> {
  const sock = net.connect(socketPath);
  const lines: string[] = [];
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (t: string) => {
    buf += t;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(payload);
  await waitFor(
    `${expected} control responses`,
    () => (lines.length >= expected ? true : undefined),
    10_000,
  );
  sock.destroy();
  return lines.map((l) => JSON.parse(l));
}

describe('robustness', () => {
  it('survives malformed control input, abrupt disconnects, UDP garbage and random bytes on HTTP', async () => {
    // Warm up so the baseline includes the code paths the fuzz exercises.
    await web.client.probe({
      host: '127.0.0.1',
      port: web.tcpPort,
      protocol: 'tcp',
      count: 20,
      concurrency: 4,
    });
    const rssBefore = vmRSSKiB(web.child.pid!);

    const bad = await rawControl(
      web.socket,
      [
        'this is not json',
        '{"id":1,"op":"explode"}',
        '{"id":2,"op":"probe"}',
        '{"id":3,"op":"flow-send","flowId":"nope"}',
        '[]',
        '',
        '{"id":4,"op":"info"}',
      ].join('\n') + '\n',
      6,
    );
    expect(bad.find((r) => r.id === 1)?.error).toMatch(/unknown op/);
    expect(bad.find((r) => r.id === 2)?.error).toMatch(/^probe: "\w+" must be/);
    expect(bad.find((r) => r.id === 3)?.error).toMatch(/unknown flow/);
    expect(bad.filter((r) => r.id === -1)).toHaveLength(2);
    expect(bad.find((r) => r.id === 4)?.ok).toBe(true);

    const huge = await rawControl(
      web.socket,
      Buffer.concat([Buffer.alloc(2 * 1024 * 1024, 0x7b), Buffer.from('\n{"id":9,"op":"info"}\n')]),
      2,
    );
    expect(huge[0]).toMatchObject({
      id: -1,
      ok: false,
      error: expect.stringMatching(/longer than/),
    });
    expect(huge[1]).toMatchObject({ id: 9, ok: true });

    // Abrupt disconnects: mid-line, and with requests in flight.
    for (let i = 0; i < 20; i++) {
      const sock = net.connect(web.socket);
      sock.on('error', () => undefined);
      await new Promise<void>((r) => sock.once('connect', () => r()));
      sock.write(
        i % 2 === 0
          ? `{"id":1,"op":"probe","host":"127.0.0.1","port":${web.tcpPort},"protocol":"tcp","count":50,"concurrency":5}\n{"id":2,"op":"pro`
          : '{"id":1,"op":"stream-open","host":"127.0.0.1","port":1}\n',
      );
      sock.destroy();
    }

    // UDP garbage, and a deterministic stream of random bytes at the HTTP port.
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => rand(256)));
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    for (let i = 0; i < 300; i++) udp.send(randomBytes(rand(1400)), web.udpPort, '127.0.0.1');
    udp.close();

    const hit = async (payload: Buffer, abrupt: boolean) => {
      const sock = net.connect(web.tcpPort, '127.0.0.1');
      sock.on('error', () => undefined);
      sock.on('data', () => undefined);
      await new Promise<void>((r) => {
        sock.once('connect', () => {
          sock.write(payload, () => (abrupt ? sock.resetAndDestroy() : sock.end()));
        });
        sock.once('close', () => r());
      });
    };
    const payloads: [Buffer, boolean][] = [];
    for (let i = 0; i < 1000; i++) {
      const prefix = i % 4 === 0 ? Buffer.from('GET /hostname HTTP/1.1\r\n') : Buffer.alloc(0);
      payloads.push([Buffer.concat([prefix, randomBytes(rand(2048))]), i % 3 === 0]);
    }
    payloads.push([
      Buffer.from(`GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`),
      false,
    ]);
    payloads.push([
      Buffer.concat([
        Buffer.from('POST /echo?msg=x HTTP/1.1\r\nContent-Length: 8388608\r\n\r\n'),
        Buffer.alloc(8 * 1024 * 1024),
      ]),
      false,
    ]);
    for (let i = 0; i < payloads.length; i += 25) {
      await Promise.all(payloads.slice(i, i + 25).map(([p, abrupt]) => hit(p, abrupt)));
    }

    // Still serving, every side of it.
    expect((await web.client.info()).name).toBe('web-a');
    expect((await httpGet(web.tcpPort, '/hostname')).body).toBe('web-a');
    expect((await udpAsk(web.udpPort, 'hostname')).answer).toBe('web-a');
    const after = await web.client.probe({
      host: '127.0.0.1',
      port: web.tcpPort,
      protocol: 'tcp',
      count: 5,
    });
    expect(summarizeAttempts(after.attempts).ok).toBe(5);
    expect(web.child.exitCode).toBeNull();
    expect(web.sawUncaught).toBe(false);

    const rssAfter = vmRSSKiB(web.child.pid!);
    expect(rssAfter).toBeLessThan(2 * rssBefore + 32 * 1024);
  }, 120_000);
});
