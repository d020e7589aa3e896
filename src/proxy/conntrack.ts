import type { Endpoint, NodeContext, ServicePortState } from './types.js';

/**
 * kube-proxy deletes conntrack entries for UDP Services whose endpoints went away, because UDP
 * has no connection to close: without it a client keeps sending to a dead backend until its
 * entry times out (kubernetes/kubernetes#48370, #105657). That needs conntrack netlink; where
 * the kernel has none, say so instead of pretending.
 */
export interface StaleFlow {
  /** The address the client sent to (Service IP, external IP or node IP for NodePorts). */
  origDst: string;
  origPort: number;
  /** The endpoint IP that is no longer valid. */
  endpointIP: string;
}

/** UDP endpoints that existed before and do not now, per destination the client could have used. */
export function staleUdpFlows(
  before: ServicePortState[],
  after: ServicePortState[],
  nodeIP: string,
): StaleFlow[] {
  // Built on the first UDP port only: a sync of 50,000 TCP Services should not pay for it.
  let now: Map<string, ServicePortState> | undefined;
  const flows: StaleFlow[] = [];
  for (const old of before) {
    if (old.port.protocol !== 'UDP') continue;
    now ??= new Map(after.map((sp) => [sp.name, sp]));
    const cur = now.get(old.name);
    // The same object: nothing changed (ServicePortState objects are not mutated).
    if (cur === old) continue;
    const live = new Set((cur?.endpoints ?? []).filter(usable).map((e) => e.ip));
    for (const ep of old.endpoints.filter(usable)) {
      if (live.has(ep.ip)) continue;
      const s = old.service;
      const dests: [string, number][] = [[s.clusterIP, old.port.port]];
      for (const ip of [...s.externalIPs, ...s.loadBalancerIPs]) dests.push([ip, old.port.port]);
      if (old.port.nodePort) dests.push([nodeIP, old.port.nodePort]);
      for (const [origDst, origPort] of dests) flows.push({ origDst, origPort, endpointIP: ep.ip });
    }
  }
  return flows;
}

function usable(e: Endpoint): boolean {
  return e.ready || (e.serving && e.terminating);
}

/**
 * Deletes the flows' conntrack entries with the conntrack tool (netlink). Returns notes for the
 * sync result, and the number of commands it ran.
 */
export async function clearStaleUdpFlows(
  ctx: NodeContext,
  flows: StaleFlow[],
): Promise<{ notes: string[]; commands: number }> {
  if (flows.length === 0) return { notes: [], commands: 0 };
  const notes: string[] = [];
  let commands = 0;
  for (const f of flows) {
    commands++;
    const r = await ctx.exec(
      'conntrack',
      [
        '-D',
        '-p',
        'udp',
        '--orig-dst',
        f.origDst,
        '--orig-port-dst',
        String(f.origPort),
        '--dst-nat',
        f.endpointIP,
      ],
      { allowFailure: true },
    );
    // conntrack exits 1 with "0 flow entries have been deleted" when nothing matched: not an error.
    if (r.exitCode !== 0 && !/0 flow entries/.test(r.stderr + r.stdout)) {
      notes.push(
        `stale UDP conntrack entries for ${f.origDst}:${f.origPort} -> ${f.endpointIP} were not deleted: ` +
          `${(r.stderr || r.stdout).trim().split('\n').pop()} (no conntrack netlink on this kernel?)`,
      );
      break;
    }
  }
  return { notes, commands };
}
