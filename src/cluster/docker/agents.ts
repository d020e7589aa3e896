import { closeSync, openSync } from 'node:fs';
import { LabError, mapLimit, shellQuote } from '../../exec/index.js';
import type { Topology } from '../../model/types.js';
import {
  agentArgs,
  agentFiles,
  planAgentSpecs,
  waitForAgents,
  type AgentSpec,
} from '../common/agents.js';
import type { AgentRecord } from '../state.js';
import { docker } from './client.js';
import { containerName } from './labels.js';
import { CONTAINER_AGENT_SCRIPT, CONTAINER_NODE_BINARY } from './node.js';
import { podNetns } from './provision.js';

/** Where an agent runs: a container, and for a pod its namespace inside the node container. */
export function agentPlace(
  lab: string,
  spec: AgentSpec,
): { container: string; netns?: string | undefined } {
  if (spec.role === 'pod')
    return { container: containerName(lab, spec.node!), netns: podNetns(spec.target) };
  return { container: containerName(lab, spec.target) };
}

/** The agent's command line inside its container; output goes to its log in the mounted lab folder. */
export function agentCommand(lab: string, dir: string, spec: AgentSpec): string[] {
  const { socket, log } = agentFiles(dir, spec.target);
  const { netns } = agentPlace(lab, spec);
  const argv = [
    ...(netns ? ['ip', 'netns', 'exec', netns] : []),
    CONTAINER_NODE_BINARY,
    CONTAINER_AGENT_SCRIPT,
    ...agentArgs(lab, spec, socket),
  ];
  return ['sh', '-c', `exec ${shellQuote(argv)} >>${shellQuote([log])} 2>&1`];
}

/**
 * Starts one agent per namespace with a detached `docker exec` (the agent outlives `svclab up`
 * and dies with its container), records its host PID, and waits until every control socket
 * answers: the sockets are in the lab folder, mounted at the same path in every container.
 */
export async function startDockerAgents(
  lab: string,
  dir: string,
  topo: Topology,
  onStarted: (r: AgentRecord) => void,
): Promise<AgentRecord[]> {
  const records = await mapLimit(planAgentSpecs(topo), 8, async (spec): Promise<AgentRecord> => {
    const { socket, log } = agentFiles(dir, spec.target);
    closeSync(openSync(log, 'a'));
    const { container, netns } = agentPlace(lab, spec);
    try {
      const exec = await docker()
        .getContainer(container)
        .exec({ Cmd: agentCommand(lab, dir, spec), AttachStdout: false, AttachStderr: false });
      await exec.start({ Detach: true });
      const pid = await execPid(exec);
      const record: AgentRecord = { target: spec.target, netns: netns ?? '', pid, socket, log };
      onStarted(record);
      return record;
    } catch (err) {
      throw new LabError(`failed to start agent for ${spec.target} in container ${container}`, {
        cause: err,
      });
    }
  });
  await waitForAgents(records);
  return records;
}

/** The exec's host PID: Docker reports it once the process started. */
async function execPid(exec: {
  inspect(): Promise<{ Pid: number; Running: boolean; ExitCode: number | null }>;
}): Promise<number> {
  const deadline = Date.now() + 5000;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    const info = await exec.inspect();
    if (info.Pid > 0) return info.Pid;
    if (!info.Running && info.ExitCode !== null)
      throw new Error(`agent exited at once with code ${info.ExitCode}`);
    if (Date.now() > deadline) throw new Error('Docker reported no PID for the agent within 5 s');
    await new Promise((r) => setTimeout(r, wait));
  }
}
