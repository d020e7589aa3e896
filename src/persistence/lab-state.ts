import type { Lab } from '../cluster/lab.js';
import type { Topology } from '../model/types.js';
import { parseIpvsadmList } from '../proxy/ipvs/ipvsadm.js';
import type { SyncResult } from '../proxy/types.js';
import { selectPods } from '../cluster/endpoints.js';
import { findService } from './events.js';

/** The parts of a topology an event may change: pods (readiness) and Services. */
export type Baseline = Pick<Topology, 'pods' | 'services'>;

export function baselineOf(t: Topology): Baseline {
  return structuredClone({ pods: t.pods, services: t.services });
}

/** Puts pods and Services back as they were, through Lab.update (a sync), if anything differs. */
export async function restoreBaseline(lab: Lab, base: Baseline): Promise<SyncResult[]> {
  const t = lab.topology;
  if (JSON.stringify({ pods: t.pods, services: t.services }) === JSON.stringify(base)) return [];
  if (lab.controlPlane) await lab.refreshFromApi();
  return lab.update((d) => {
    // Through an API a pod's deletion cannot be undone: a pod that is terminating or gone stays so.
    d.pods = lab.controlPlane
      ? structuredClone(base.pods).flatMap((p) => {
          const now = d.pods.find((x) => x.name === p.name);
          return !now ? [] : now.terminating ? [now] : [p];
        })
      : structuredClone(base.pods);
    d.services = structuredClone(base.services);
  });
}

/**
 * Deletes every conntrack entry on every node, so one event's flows cannot steer the next one's
 * (a UDP entry lives 30-120 s). Between events only, never as part of one. The lab's own
 * namespaces only: conntrack tables are per network namespace.
 */
export async function flushConntrack(lab: Lab): Promise<void> {
  await Promise.all(
    lab.topology.nodes.map((n) => lab.exec(n.name, ['conntrack', '-F'], { allowFailure: true })),
  );
}

/** Conntrack entries on a node for one client source port (the evidence of a stale entry). */
export async function conntrackEntries(
  lab: Lab,
  node: string,
  o: { protocol: 'tcp' | 'udp'; sourcePort: number },
): Promise<string[]> {
  const r = await lab.exec(
    node,
    ['conntrack', '-L', '-p', o.protocol, '--orig-port-src', String(o.sourcePort)],
    { allowFailure: true },
  );
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** The endpoint IP a conntrack entry NATs to: the reply direction's source. */
export function natTarget(entry: string): string | undefined {
  return [...entry.matchAll(/\bsrc=(\S+)/g)][1]?.[1];
}

/** Ready endpoints (pod names) of a Service, and the selected pods that are not ready. */
export function endpointPods(
  t: Topology,
  service: string,
): { ready: string[]; notReady: string[] } {
  const pods = selectPods(findService(t, service), t.pods);
  return {
    ready: pods.filter((p) => p.ready && !p.terminating).map((p) => p.name),
    notReady: pods.filter((p) => !p.ready).map((p) => p.name),
  };
}

/** The node whose proxy DNATs a pod's traffic: the client pod's own node. */
export function nodeOf(t: Topology, pod: string): string {
  const p = t.pods.find((x) => x.name === pod);
  if (!p) throw new Error(`no pod ${pod}`);
  return p.node;
}

export function syncNotes(results: SyncResult[]): string[] {
  return [...new Set(results.flatMap((r) => r.notes))];
}

/**
 * `node UDP 10.96.0.10:81 real servers after the update: 10.244.0.2:8081 w1, 10.244.1.2:8081 w0`:
 * what one UDP virtual server holds now on a node (`ipvsadm -Ln -u`), for a cell's notes. A UDP
 * flow that survived an endpoint's removal is then explained by the kernel (the real server still
 * there, or kept at weight 0) instead of guessed at: kube-proxy deletes a UDP real server at once
 * (pkg/proxy/ipvs/graceful_termination.go, IsRsGracefulTerminationNeeded is false for UDP).
 */
export async function ipvsUdpRealServersNote(
  lab: Lab,
  node: string,
  vip: string,
  port: number,
): Promise<string> {
  const what = `${node} UDP ${vip}:${port}`;
  const r = await lab.exec(node, ['ipvsadm', '-Ln', '-u', `${vip}:${port}`], {
    allowFailure: true,
  });
  if (r.exitCode !== 0) return `${what}: no virtual server (${r.stderr.trim()})`;
  const reals = (parseIpvsadmList(r.stdout)[0]?.realServers ?? [])
    .map((x) => `${x.address}:${x.port} w${x.weight}`)
    .sort();
  return `${what} real servers after the update: ${reals.length > 0 ? reals.join(', ') : 'none'}`;
}
