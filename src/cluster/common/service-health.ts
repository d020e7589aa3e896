import { scaledDeadline } from '../../exec/index.js';
import { AgentClient, waitForAgentReady } from '../../traffic/agent-client.js';
import type { NodeContext } from '../../proxy/types.js';

/**
 * A node's service health server is its agent (src/traffic/service-health.ts), already running in
 * the node's namespace for the life of the lab and stopped with it: svclab's proxy of the node
 * reaches it on the agent's control socket, one short connection per change.
 */
export function agentServiceHealth(
  node: string,
  socket: () => string,
): NonNullable<NodeContext['syncServiceHealth']> {
  // A lab installs its proxy while the agents boot (lab-flow runs the proxy phase before "wait for
  // agents"), so the first sync can come before the node's agent listens: wait for it once.
  let ready: Promise<unknown> | undefined;
  return async (services, serviceProxyHealthy) => {
    const path = socket();
    ready ??= waitForAgentReady(path, { name: node, timeoutMs: scaledDeadline(30_000) }).catch(
      (err: unknown) => {
        ready = undefined;
        throw err;
      },
    );
    await ready;
    const agent = await AgentClient.connect(path, { name: node });
    try {
      return await agent.healthCheckSync({ services, serviceProxyHealthy });
    } finally {
      await agent.close();
    }
  };
}
