/**
 * The svclab traffic agent: one process per network namespace (pod, node, external host).
 * Server side: agnhost-netexec-compatible HTTP and UDP servers. Client side: probes and
 * long-lived flows driven over a JSON-lines control socket (see protocol.ts).
 *
 *   node dist/traffic/agent.js --lab <lab> --name <name> --hostname <hostname> \
 *     --control <unix socket> [--listen tcp:8080,udp:8081] [--delay-shutdown <seconds>]
 *
 * Prints `ready` on stdout once every listener and the control socket are up; logs one line
 * per control request and per server error on stderr. Imports only node builtins and local
 * modules: under QEMU every millisecond of startup is paid once per namespace.
 */
import fs from 'node:fs';
import type http from 'node:http';
import type dgram from 'node:dgram';
import { parseAgentArgs, USAGE, type AgentOptions } from './agent-args.js';
import { startControlServer } from './control-server.js';
import { FlowTable } from './flows.js';
import { startHttpServer } from './netexec-http.js';
import { startUdpServer } from './netexec-udp.js';
import { runProbe } from './probe.js';
import { httpGet } from './http-get.js';
import { ServiceHealthServer } from './service-health.js';
import type { AgentInfo, AgentRequest, L4 } from './protocol.js';
import { readFileCapped } from './read-file.js';
import type { ServerState } from './server-state.js';

function makeLogger(name: string): (line: string) => void {
  return (line) => {
    try {
      process.stderr.write(`${new Date().toISOString()} agent ${name}: ${line}\n`);
    } catch {
      // stderr gone: nothing left to tell
    }
  };
}

async function main(opts: AgentOptions): Promise<void> {
  const log = makeLogger(opts.name);
  // The agent must outlive bugs in a single request; a crash would look like a dataplane fault.
  process.on('uncaughtException', (err) => log(`uncaught exception: ${err.stack ?? String(err)}`));
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${String(err)}`));
  process.stdout.on('error', () => undefined);

  const state: ServerState = {
    hostname: opts.hostname,
    draining: false,
    ready: opts.ready,
    log,
  };
  const listening: { port: number; protocol: L4 }[] = [];
  const httpServers: http.Server[] = [];
  const udpSockets: dgram.Socket[] = [];
  for (const l of opts.listen) {
    try {
      if (l.protocol === 'tcp') {
        const server = await startHttpServer(l.port, state);
        httpServers.push(server);
        const addr = server.address();
        listening.push({
          protocol: 'tcp',
          port: typeof addr === 'object' && addr ? addr.port : l.port,
        });
      } else {
        const sock = await startUdpServer(l.port, state);
        udpSockets.push(sock);
        listening.push({ protocol: 'udp', port: sock.address().port });
      }
    } catch (err) {
      log(`failed to listen on ${l.protocol}:${l.port}: ${(err as Error).message}`);
      process.exit(1);
    }
  }

  const flows = new FlowTable();
  // Only a node's agent is asked to serve health checks: it runs in the node's namespace.
  const serviceHealth = new ServiceHealthServer(log);
  const info = (): AgentInfo => ({
    name: opts.name,
    hostname: opts.hostname,
    pid: process.pid,
    listening,
    draining: state.draining,
    ready: state.ready && !state.draining,
    lab: opts.lab,
    flows: flows.size,
  });

  const handle = async (req: AgentRequest, signal: AbortSignal): Promise<unknown> => {
    switch (req.op) {
      case 'probe':
        return runProbe(req, signal);
      case 'stream-open':
        return flows.openStream(req);
      case 'conn-open':
        return flows.openConn(req);
      case 'udp-open':
        return flows.openUdp(req);
      case 'flow-send':
        return flows.send(req.flowId, req.timeoutMs);
      case 'flow-status':
        return flows.status(req.flowId);
      case 'flow-close':
        return flows.close(req.flowId);
      case 'http-get':
        return httpGet(req, signal);
      case 'health-check-sync':
        return serviceHealth.sync(req.services, req.serviceProxyHealthy);
      case 'read-file':
        return readFileCapped(req.path);
      case 'info':
        return info();
      case 'drain':
        state.draining = true;
        return info();
      case 'set-ready':
        if (state.ready !== req.ready) log(`readiness set to ${req.ready}`);
        state.ready = req.ready;
        return info();
    }
  };

  let control;
  try {
    control = await startControlServer({ path: opts.control, handle, log });
  } catch (err) {
    log(`failed to listen on control socket ${opts.control}: ${(err as Error).message}`);
    process.exit(1);
  }

  const exit = (code: number) => {
    control.close();
    serviceHealth.close();
    try {
      fs.unlinkSync(opts.control);
    } catch {
      // already gone
    }
    void flows.closeAll();
    process.exit(code);
  };
  let terminating = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal means "now" (an impatient teardown).
    if (terminating) exit(0);
    terminating = true;
    state.draining = true;
    log(`${signal}: draining (/readyz answers 503), exiting in ${opts.delayShutdownMs}ms`);
    setTimeout(() => exit(0), opts.delayShutdownMs);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const ports = listening.map((l) => `${l.protocol}:${l.port}`).join(',') || 'none';
  log(
    `ready: lab=${opts.lab} hostname=${opts.hostname} listening=${ports} control=${opts.control}`,
  );
  process.stdout.write('ready\n');
}

let options: AgentOptions;
try {
  options = parseAgentArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`agent: ${(err as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
await main(options);
