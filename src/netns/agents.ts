import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { LabError } from '../exec/index.js';
import type { Topology } from '../model/types.js';
import type { AgentRecord } from '../cluster/state.js';
import {
  agentArgs,
  agentFiles,
  agentScript,
  planAgentSpecs,
  waitForAgents,
  type AgentSpec,
} from '../cluster/common/agents.js';
import { netnsName } from './names.js';

export { agentScript } from '../cluster/common/agents.js';

export interface AgentPlan {
  target: string;
  netns: string;
  spec: AgentSpec;
}

/** One agent per namespace (planned in src/cluster/common/agents.ts), mapped to this lab's namespaces. */
export function planAgents(lab: string, topo: Topology): AgentPlan[] {
  return planAgentSpecs(topo).map((spec) => ({
    target: spec.target,
    netns: netnsName(lab, spec.role, spec.target),
    spec,
  }));
}

/**
 * Starts the agents detached (they outlive `svclab up`), logs to the lab folder, and returns at
 * once: the caller waits for them with `waitForAgents` (lab bring-up installs the proxy while they
 * boot). Every argv carries `--lab <name>` so a sweep can recognise them.
 */
export function spawnAgents(
  lab: string,
  dir: string,
  plans: AgentPlan[],
  onStarted: (r: AgentRecord) => void,
): AgentRecord[] {
  const script = agentScript();
  const records = plans.map((p): AgentRecord => {
    const { socket, log } = agentFiles(dir, p.target);
    const fd = openSync(log, 'a');
    const args = [
      'netns',
      'exec',
      p.netns,
      process.execPath,
      script,
      ...agentArgs(lab, p.spec, socket),
    ];
    const child = spawn('ip', args, { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new LabError(`failed to start agent for ${p.target}`);
    const record = { target: p.target, netns: p.netns, pid: child.pid, socket, log };
    onStarted(record);
    return record;
  });
  return records;
}

export { waitForAgents };
