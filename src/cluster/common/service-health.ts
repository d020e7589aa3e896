import { AgentClient } from '../../traffic/agent-client.js';
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
  return async (services, serviceProxyHealthy) => {
    const agent = await AgentClient.connect(socket(), { name: node });
    try {
      return await agent.healthCheckSync({ services, serviceProxyHealthy });
    } finally {
      await agent.close();
    }
  };
}
