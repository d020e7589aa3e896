import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError, mapLimit } from '../exec/index.js';
import type { Topology } from '../model/types.js';
import type { AgentRecord } from '../cluster/state.js';
import { waitForAgentReady } from '../traffic/agent-client.js';
import { netnsName } from './names.js';

/** The compiled agent: it imports only Node built-ins so it starts fast (~0.7 s per start under QEMU). */
export function agentScript(): string {
  if (process.env.SVCLAB_AGENT) return process.env.SVCLAB_AGENT;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const script = join(dir, 'dist', 'traffic', 'agent.js');
  if (!existsSync(script)) throw new LabError(`traffic agent not built (${script} missing): run \`npm run build\``);
  return script;
}

export interface AgentPlan {
  target: string;
  netns: string;
  hostname: string;
  listen: string[];
}

/** One agent per namespace: pods (their ports), nodes (their hostNetwork pods' ports), external hosts. */
export function planAgents(lab: string, topo: Topology): AgentPlan[] {
  const listen = (ports: { containerPort: number; protocol: string }[]) =>
    ports.map((p) => `${p.protocol.toLowerCase()}:${p.containerPort}`);
  const plans: AgentPlan[] = [];
  for (const node of topo.nodes) {
    const hostPods = topo.pods.filter((p) => p.node === node.name && p.hostNetwork);
    plans.push({ target: node.name, netns: netnsName(lab, 'node', node.name), hostname: node.name, listen: hostPods.flatMap((p) => listen(p.ports)) });
  }
  for (const pod of topo.pods.filter((p) => !p.hostNetwork)) {
    plans.push({ target: pod.name, netns: netnsName(lab, 'pod', pod.name), hostname: pod.name, listen: listen(pod.ports) });
  }
  for (const ext of topo.externalHosts) {
    plans.push({ target: ext.name, netns: netnsName(lab, 'ext', ext.name), hostname: ext.name, listen: [] });
  }
  return plans;
}

/**
 * Starts the agents detached (they outlive `svclab up`), logs to the lab folder, and waits until
 * each control socket answers. Every argv carries `--lab <name>` so a sweep can recognise them.
 */
export async function startAgents(lab: string, dir: string, plans: AgentPlan[], onStarted: (r: AgentRecord) => void): Promise<AgentRecord[]> {
  const script = agentScript();
  const records = plans.map((p): AgentRecord => {
    const socket = join(dir, 'agents', `${p.target}.sock`);
    const log = join(dir, 'logs', `${p.target}.log`);
    const fd = openSync(log, 'a');
    const args = ['netns', 'exec', p.netns, process.execPath, script, '--lab', lab, '--name', p.target, '--hostname', p.hostname, '--control', socket];
    if (p.listen.length > 0) args.push('--listen', p.listen.join(','));
    const child = spawn('ip', args, { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new LabError(`failed to start agent for ${p.target}`);
    const record = { target: p.target, netns: p.netns, pid: child.pid, socket, log };
    onStarted(record);
    return record;
  });
  await mapLimit(records, 16, async (r) => {
    try {
      await waitForAgentReady(r.socket, { timeoutMs: 30_000, pid: r.pid });
    } catch (err) {
      throw new LabError(`agent for ${r.target} did not become ready (log: ${r.log})`, { cause: err });
    }
  });
  return records;
}
