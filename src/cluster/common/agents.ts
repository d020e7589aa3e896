import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError, mapLimit, scaledDeadline } from '../../exec/index.js';
import type { ContainerPort, Topology } from '../../model/types.js';
import type { AgentRecord } from '../state.js';
import { waitForAgentReady } from '../../traffic/agent-client.js';
import { podsWithNetns } from './pod-network.js';

/**
 * The traffic agent, planned the same way by every provider that starts it itself (netns, docker).
 * Moved here from src/netns/agents.ts.
 */

/** The compiled agent: it imports only Node built-ins so it starts fast (~0.7 s per start under QEMU). */
export function agentScript(): string {
  if (process.env.SVCLAB_AGENT) return process.env.SVCLAB_AGENT;
  const script = join(packageDir(), 'dist', 'traffic', 'agent.js');
  if (!existsSync(script))
    throw new LabError(`traffic agent not built (${script} missing): run \`npm run build\``);
  return script;
}

/** The svclab package folder (holding package.json and dist/). */
export function packageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dir;
}

export type AgentRole = 'node' | 'pod' | 'ext';

/** One agent: where it runs (a node, a pod of a node, an external host) and what it serves. */
export interface AgentSpec {
  target: string;
  role: AgentRole;
  /** The node a pod agent runs on. */
  node?: string | undefined;
  hostname: string;
  /** `tcp:8080`, `udp:8081`... */
  listen: string[];
  /** A pod the topology marks not ready starts with a failing readiness probe. */
  ready?: boolean | undefined;
}

const listenOn = (ports: ContainerPort[]) =>
  ports.map((p) => `${p.protocol.toLowerCase()}:${p.containerPort}`);

/** One agent per network namespace: nodes (serving their hostNetwork pods' ports), pods, external hosts. */
export function planAgentSpecs(topo: Topology): AgentSpec[] {
  return [
    ...topo.nodes.map((node): AgentSpec => ({
      target: node.name,
      role: 'node',
      hostname: node.name,
      listen: topo.pods
        .filter((p) => p.node === node.name && p.hostNetwork)
        .flatMap((p) => listenOn(p.ports)),
    })),
    ...podsWithNetns(topo).map((pod): AgentSpec => ({
      target: pod.name,
      role: 'pod',
      node: pod.node,
      hostname: pod.name,
      listen: listenOn(pod.ports),
      ready: pod.ready,
    })),
    ...topo.externalHosts.map((ext): AgentSpec => ({
      target: ext.name,
      role: 'ext',
      hostname: ext.name,
      listen: [],
    })),
  ];
}

/** Where an agent's control socket and log live in the lab folder. */
export function agentFiles(labDir: string, target: string): { socket: string; log: string } {
  return {
    socket: join(labDir, 'agents', `${target}.sock`),
    log: join(labDir, 'logs', `${target}.log`),
  };
}

/** The agent's arguments after the script. `--lab <name>` lets a sweep recognise the process. */
export function agentArgs(lab: string, spec: AgentSpec, socket: string): string[] {
  const args = [
    '--lab',
    lab,
    '--name',
    spec.target,
    '--hostname',
    spec.hostname,
    '--control',
    socket,
  ];
  if (spec.listen.length > 0) args.push('--listen', spec.listen.join(','));
  if (spec.ready === false) args.push('--not-ready');
  return args;
}

/** Waits until every started agent answers on its control socket (or its process died). */
export async function waitForAgents(
  records: readonly AgentRecord[],
  timeoutMs = scaledDeadline(30_000),
): Promise<void> {
  await mapLimit(records, 16, async (r) => {
    try {
      await waitForAgentReady(r.socket, { timeoutMs, pid: r.pid });
    } catch (err) {
      throw new LabError(`agent for ${r.target} did not become ready (log: ${r.log})`, {
        cause: err,
      });
    }
  });
}
