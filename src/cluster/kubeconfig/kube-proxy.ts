import type { KubeApi } from './api.js';
import { waitFor } from './wait.js';

/** kube-proxy's /healthz answer (healthz port 10256, bound to 0.0.0.0 by default). */
interface ProxyHealth {
  lastUpdated: string;
  currentTime: string;
}

async function health(api: KubeApi, node: string): Promise<ProxyHealth> {
  const text = await api.nodeProxyGet(node, 10256, '/healthz');
  const h = (typeof text === 'string' ? JSON.parse(text) : text) as ProxyHealth;
  if (!h.lastUpdated || !h.currentTime)
    throw new Error(`unexpected /healthz answer: ${JSON.stringify(text).slice(0, 200)}`);
  return h;
}

/**
 * Waits until kube-proxy on every node has finished a sync that started after now (by
 * kube-proxy's own clock: lastUpdated passes the currentTime it reported first, so clock skew
 * between this machine and the nodes does not matter). Returns notes for nodes where this could
 * not be confirmed (no nodes/proxy permission, healthz not reachable): there the lab cannot know
 * when the rules changed, and says so instead of sleeping.
 */
export async function waitKubeProxySynced(
  api: KubeApi,
  nodes: string[],
  timeoutMs = 30_000,
): Promise<string[]> {
  const notes: string[] = [];
  const since = new Map<string, number>();
  for (const node of nodes) {
    try {
      since.set(node, Date.parse((await health(api, node)).currentTime));
    } catch (err) {
      notes.push(
        `could not confirm that kube-proxy on ${node} synced (its /healthz through the node proxy: ${err instanceof Error ? err.message : String(err)})`,
      );
    }
  }
  await waitFor(
    `kube-proxy to sync on ${since.size} nodes`,
    async () => {
      for (const [node, t] of since) {
        const h = await health(api, node);
        if (Date.parse(h.lastUpdated) <= t)
          return `${node}: last sync ${h.lastUpdated}, waiting for one after ${new Date(t).toISOString()}`;
      }
      return undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );
  return notes;
}
