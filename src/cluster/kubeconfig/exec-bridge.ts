import { rm } from 'node:fs/promises';
import net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { LabError } from '../../exec/index.js';
import type { KubeApi } from './api.js';
import { AGENT_CONTROL_SOCKET } from './names.js';

/**
 * Inside the pod: copies stdin to the agent's control socket and the socket to stdout. `node -e`
 * because the agent container has node and nothing else is guaranteed.
 */
export const PIPE_COMMAND = [
  'node',
  '-e',
  `const s=require('net').connect(${JSON.stringify(AGENT_CONTROL_SOCKET)});process.stdin.pipe(s);s.pipe(process.stdout);s.on('close',()=>process.exit(0));s.on('error',e=>{process.stderr.write(String(e));process.exit(1)})`,
];

export interface BridgeTarget {
  namespace: string;
  pod: string;
  container: string;
}

/**
 * Makes an agent that runs in a cluster pod reachable on a local Unix socket, so the Lab's
 * AgentClient works unchanged on every provider. Each local connection is one exec stream through
 * the API server into the pod (one pipe process there); the AgentClient holds one connection per
 * agent and multiplexes every request over it, so probes of any size cost no process spawns.
 */
export class AgentBridge {
  private readonly streams = new Set<{ close(): void }>();

  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  static async open(api: KubeApi, target: BridgeTarget, path: string): Promise<AgentBridge> {
    await rm(path, { force: true });
    const server = net.createServer();
    const bridge = new AgentBridge(server, path);
    server.on('connection', (socket) => bridge.serve(api, target, socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new LabError(`failed to listen on ${path} for the agent of ${target.pod}`, {
            cause: err,
          }),
        ),
      );
      server.listen(path, resolve);
    });
    // The bridge must not keep a CLI process alive on its own; open control connections do.
    server.unref();
    return bridge;
  }

  private serve(api: KubeApi, target: BridgeTarget, socket: net.Socket): void {
    const stdin = new PassThrough();
    socket.pipe(stdin);
    const stdout = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (socket.writable) socket.write(chunk, () => cb());
        else cb();
      },
    });
    let stderr = '';
    const errors = new Writable({
      write(chunk: Buffer, _enc, cb) {
        stderr = (stderr + chunk.toString('utf8')).slice(-4000);
        cb();
      },
    });
    api
      .execStream(target.namespace, target.pod, target.container, PIPE_COMMAND, {
        stdin,
        stdout,
        stderr: errors,
        onStatus: (st) => {
          if (st.status !== 'Success')
            socket.destroy(
              new Error(`agent pipe in ${target.pod} ended: ${st.message ?? ''} ${stderr}`.trim()),
            );
          else socket.end();
        },
      })
      .then((ws) => {
        const stream = { close: () => ws.close() };
        this.streams.add(stream);
        ws.on('close', () => {
          this.streams.delete(stream);
          socket.end();
        });
        socket.on('close', () => ws.close());
      })
      .catch((err: unknown) => socket.destroy(err instanceof Error ? err : new Error(String(err))));
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.close();
    this.streams.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}
