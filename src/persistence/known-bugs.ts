import type { Lab } from '../cluster/lab.js';
import { LabError } from '../exec/index.js';
import type { ProxyMode } from '../proxy/types.js';
import type { Attempt } from '../traffic/protocol.js';
import { findPod, findService } from './events.js';
import {
  closeFlows,
  DEFAULT_WATCH,
  exchangeConn,
  FIXED_PORTS,
  exchangeUdp,
  openFlows,
  watchStream,
  type WatchOptions,
} from './flows.js';
import {
  baselineOf,
  conntrackEntries,
  flushConntrack,
  natTarget,
  nodeOf,
  restoreBaseline,
  syncNotes,
  type Baseline,
} from './lab-state.js';
import { flowTarget } from './scenario.js';

export type KnownBugStatus = 'reproduced' | 'not-reproduced' | 'skipped';

export interface KnownBugResult {
  id: string;
  /** kubernetes/kubernetes issue numbers. */
  issues: number[];
  title: string;
  status: KnownBugStatus;
  /** One line: what was seen, in the issue's terms. */
  summary: string;
  /** Raw observations: conntrack / IPVS lines, answers, sysctls, sync notes. */
  evidence: string[];
  durationMs: number;
}

export interface KnownBugContext {
  lab: Lab;
  client: string;
  service: string;
  baseline: Baseline;
  udpSourcePort: number;
  /** A TCP source port for the IPVS connection-reuse cases; distinct per case. */
  tcpSourcePort: number;
  watch: WatchOptions;
}

export interface KnownBugCase {
  id: string;
  issues: number[];
  title: string;
  /** Modes the bug belongs to; others report `skipped`. */
  modes?: readonly ProxyMode[] | undefined;
  run(
    ctx: KnownBugContext,
  ): Promise<Omit<KnownBugResult, 'id' | 'issues' | 'title' | 'durationMs'>>;
}

const result = (status: KnownBugStatus, summary: string, evidence: string[]) => ({
  status,
  summary,
  evidence,
});

/** A node's IPVS sysctl, read inside the node's namespace (they are per network namespace). */
async function ipvsSysctl(lab: Lab, node: string, name: string): Promise<string> {
  const r = await lab.exec(node, ['cat', `/proc/sys/net/ipv4/vs/${name}`], { allowFailure: true });
  return r.exitCode === 0 ? r.stdout.trim() : `(unreadable: ${r.stderr.trim()})`;
}

async function ipvsService(lab: Lab, node: string, vip: string, port: number): Promise<string> {
  return (
    await lab.exec(node, ['ipvsadm', '-Ln', '-t', `${vip}:${port}`], { allowFailure: true })
  ).stdout.trim();
}

async function ipvsConnections(lab: Lab, node: string, clientPort: number): Promise<string[]> {
  const out = (await lab.exec(node, ['ipvsadm', '-Lnc'], { allowFailure: true })).stdout;
  return out.split('\n').filter((l) => l.includes(`:${clientPort} `));
}

const setReady = (lab: Lab, pod: string, ready: boolean) =>
  lab.update((t) => void (findPod(t, pod).ready = ready));

function tally(attempts: Attempt[]): string {
  const out: Record<string, number> = {};
  for (const a of attempts) {
    const k = a.ok ? (a.backend ?? '?') : `failed:${a.failure ?? 'error'}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return JSON.stringify(out);
}

export const KNOWN_BUGS: readonly KnownBugCase[] = [
  {
    id: 'stale-udp-conntrack',
    issues: [48370, 105657],
    title: 'stale UDP conntrack entry keeps a fixed-source-port client on a removed endpoint',
    async run(ctx) {
      const { lab } = ctx;
      const agent = await lab.agent(ctx.client);
      const target = flowTarget(lab, ctx.service);
      const node = nodeOf(lab.topology, ctx.client);
      const opened = await agent.udpOpen({
        host: target.host,
        port: target.udpPort,
        sourcePort: ctx.udpSourcePort,
        timeoutMs: ctx.watch.connectTimeoutMs,
      });
      try {
        const serving = opened.first.backend;
        if (!opened.first.ok || !serving)
          throw new LabError(
            `UDP flow did not open: ${opened.first.failure} ${opened.first.detail ?? ''}`,
          );
        const servingIP = findPod(lab.topology, serving).ip;
        const before = await conntrackEntries(lab, node, {
          protocol: 'udp',
          sourcePort: ctx.udpSourcePort,
        });
        const updatedAt = performance.now();
        const notes = syncNotes(await setReady(lab, serving, false));
        const after = await conntrackEntries(lab, node, {
          protocol: 'udp',
          sourcePort: ctx.udpSourcePort,
        });
        const flow = {
          kind: 'udp' as const,
          flowId: opened.flowId,
          backend: serving,
          localPort: opened.localPort,
        };
        const answer = await exchangeUdp(agent, flow, { updatedAt, watch: ctx.watch });
        const stale = after.filter((e) => natTarget(e) === servingIP);
        const evidence = [
          `UDP flow from port ${ctx.udpSourcePort} answered by ${serving} (${servingIP}); ${serving} then set not ready`,
          ...before.map((e) => `${node} conntrack before: ${e}`),
          ...(after.length
            ? after.map((e) => `${node} conntrack after sync: ${e}`)
            : [`${node} conntrack after sync: no entry for source port ${ctx.udpSourcePort}`]),
          `next datagram: ${answer.outcome} (${answer.evidence})`,
          ...notes.map((n) => `sync note: ${n}`),
        ];
        const summary = `after the endpoint left: ${answer.outcome}${answer.after ? ` to ${answer.after}` : ''}; ${stale.length} conntrack entr${stale.length === 1 ? 'y' : 'ies'} still NAT to ${servingIP}`;
        return result(
          stale.length > 0 || answer.outcome !== 'moved' ? 'reproduced' : 'not-reproduced',
          summary,
          evidence,
        );
      } finally {
        await agent.flowClose(opened.flowId).catch(() => undefined);
      }
    },
  },
  {
    id: 'removed-endpoint-pod-running',
    issues: [101968, 100698],
    title:
      'established TCP connections live on to an endpoint removed from the Service while its pod runs',
    async run(ctx) {
      const { lab } = ctx;
      const agent = await lab.agent(ctx.client);
      const node = nodeOf(lab.topology, ctx.client);
      const flows = await openFlows(agent, flowTarget(lab, ctx.service), {
        udpSourcePort: ctx.udpSourcePort,
        pin: true,
        watch: ctx.watch,
      });
      try {
        const serving = flows.stream.backend;
        const messagesAtUpdate = (await agent.flowStatus(flows.stream.flowId)).messages;
        const notes = syncNotes(await setReady(lab, serving, false));
        const updatedAt = performance.now();
        const [stream, conn] = await Promise.all([
          watchStream(agent, flows.stream, { messagesAtUpdate, updatedAt, watch: ctx.watch }),
          exchangeConn(agent, flows.conn, { updatedAt, watch: ctx.watch }),
        ]);
        const entries = await conntrackEntries(lab, node, {
          protocol: 'tcp',
          sourcePort: flows.stream.localPort,
        });
        const evidence = [
          `stream and idle connection on ${serving}; ${serving} set not ready, its pod still running`,
          `stream: ${stream.outcome} (${stream.evidence})`,
          `idle connection: ${conn.outcome} (${conn.evidence})`,
          ...entries.map((e) => `${node} conntrack: ${e}`),
          ...notes.map((n) => `sync note: ${n}`),
        ];
        const liveOn = stream.outcome === 'survived' || conn.outcome === 'survived';
        const summary = liveOn
          ? `connections keep talking to the removed endpoint ${serving} (stream ${stream.outcome}, idle ${conn.outcome}): nothing ends them`
          : `connections to the removed endpoint ended (stream ${stream.outcome}, idle ${conn.outcome})`;
        return result(liveOn ? 'reproduced' : 'not-reproduced', summary, evidence);
      } finally {
        await closeFlows(agent, flows);
      }
    },
  },
  {
    id: 'ipvs-affinity-quiescent',
    issues: [71809],
    title:
      'IPVS graceful termination with ClientIP affinity pins clients to a weight-0 real server',
    modes: ['ipvs'],
    async run(ctx) {
      const { lab } = ctx;
      const agent = await lab.agent(ctx.client);
      const node = nodeOf(lab.topology, ctx.client);
      const target = flowTarget(lab, ctx.service);
      await lab.update((t) => {
        const s = findService(t, ctx.service);
        s.sessionAffinity = 'ClientIP';
        s.sessionAffinityTimeoutSeconds = 10800;
      });
      // An open stream keeps ActiveConn > 0, so graceful termination sets weight 0 instead of deleting.
      const stream = await agent.streamOpen({
        host: target.host,
        port: target.tcpPort,
        intervalMs: ctx.watch.heartbeatMs,
        timeoutMs: ctx.watch.connectTimeoutMs * 2,
        idleTimeoutMs: 120_000,
      });
      try {
        const serving = stream.first.backend;
        if (!stream.first.ok || !serving)
          throw new LabError(
            `stream did not open: ${stream.first.failure} ${stream.first.detail ?? ''}`,
          );
        const notes = syncNotes(
          await lab.update((t) => void (findPod(t, serving).terminating = true)),
        );
        const table = await ipvsService(lab, node, target.host, target.tcpPort);
        const probe = await agent.probe({
          host: target.host,
          port: target.tcpPort,
          protocol: 'tcp',
          count: 10,
          timeoutMs: ctx.watch.connectTimeoutMs,
        });
        const pinned = probe.attempts.filter((a) => a.ok && a.backend === serving).length;
        const evidence = [
          `ClientIP affinity; stream open to ${serving}; ${serving} marked terminating`,
          `${node} net.ipv4.vs.expire_quiescent_template=${await ipvsSysctl(lab, node, 'expire_quiescent_template')}`,
          `${node} ipvsadm -Ln:\n${table}`,
          `10 new connections from the same client: ${tally(probe.attempts)}`,
          ...notes.map((n) => `sync note: ${n}`),
        ];
        return result(
          pinned > 0 ? 'reproduced' : 'not-reproduced',
          pinned > 0
            ? `${pinned}/10 new connections still sent to the weight-0 ${serving} by the persistence template`
            : `new connections avoid the weight-0 ${serving}: the template expired (expire_quiescent_template)`,
          evidence,
        );
      } finally {
        await agent.flowClose(stream.flowId).catch(() => undefined);
      }
    },
  },
  ...(['ipvs-port-reuse-removed', 'ipvs-port-reuse-delay'] as const).map((id): KnownBugCase => ({
    id,
    issues: id === 'ipvs-port-reuse-removed' ? [70747] : [81775],
    title:
      id === 'ipvs-port-reuse-removed'
        ? 'IPVS: a new connection from a reused client source port goes to the removed real server'
        : 'IPVS: a new connection from a reused client source port waits ~1 s (SYN dropped, conn_reuse_mode)',
    modes: ['ipvs'],
    async run(ctx) {
      const { lab } = ctx;
      const agent = await lab.agent(ctx.client);
      const node = nodeOf(lab.topology, ctx.client);
      const target = flowTarget(lab, ctx.service);
      const req = {
        host: target.host,
        port: target.tcpPort,
        protocol: 'tcp' as const,
        count: 1,
        sourcePort: ctx.tcpSourcePort,
        timeoutMs: 3000,
      };
      // The server closes first, so the client port is free again while IPVS still holds the
      // old connection entry (TIME_WAIT): exactly the reuse the issues describe.
      const first = (await agent.probe(req)).attempts[0];
      const serving = first?.backend;
      if (!first?.ok || !serving)
        throw new LabError(`first connection failed: ${first?.failure} ${first?.detail ?? ''}`);
      const notes = syncNotes(await setReady(lab, serving, false));
      const conns = await ipvsConnections(lab, node, ctx.tcpSourcePort);
      const second = (await agent.probe(req)).attempts[0];
      const evidence = [
        `connection from port ${ctx.tcpSourcePort} answered by ${serving}; ${serving} then set not ready; same source port again`,
        `${node} net.ipv4.vs.conn_reuse_mode=${await ipvsSysctl(lab, node, 'conn_reuse_mode')}, expire_nodest_conn=${await ipvsSysctl(lab, node, 'expire_nodest_conn')}`,
        ...(conns.length
          ? conns.map((c) => `${node} ipvsadm -Lnc: ${c.trim()}`)
          : [`${node} ipvsadm -Lnc: no entry for port ${ctx.tcpSourcePort}`]),
        `second connection: ${second?.ok ? `answered by ${second.backend}` : `${second?.failure}: ${second?.detail ?? ''}`} in ${Math.round(second?.latencyMs ?? 0)} ms`,
        ...notes.map((n) => `sync note: ${n}`),
      ];
      if (id === 'ipvs-port-reuse-removed') {
        const toRemoved = second?.ok === true && second.backend === serving;
        return result(
          toRemoved ? 'reproduced' : 'not-reproduced',
          toRemoved
            ? `the reused port reached the removed ${serving}`
            : `the reused port was scheduled afresh (${second?.backend ?? second?.failure})`,
          evidence,
        );
      }
      // A dropped SYN is retransmitted after the initial RTO, 1 s: that is the signature.
      const slow = (second?.latencyMs ?? 0) >= 900;
      return result(
        slow ? 'reproduced' : 'not-reproduced',
        `second connection took ${Math.round(second?.latencyMs ?? 0)} ms${slow ? ' (a SYN retransmission)' : ''}`,
        evidence,
      );
    },
  })),
];

export const KNOWN_BUG_IDS = KNOWN_BUGS.map((b) => b.id);

/**
 * Runs one known-bug case on a lab and puts the topology back. Cases of another mode are
 * `skipped`. A case that cannot run (a flow would not open) throws.
 */
export async function runKnownBug(
  lab: Lab,
  bug: KnownBugCase,
  o: Partial<Omit<KnownBugContext, 'lab'>> = {},
): Promise<KnownBugResult> {
  const started = performance.now();
  const head = { id: bug.id, issues: bug.issues, title: bug.title };
  const mode = lab.dataplaneMode;
  if (bug.modes && (mode === 'none' || !bug.modes.includes(mode))) {
    return {
      ...head,
      status: 'skipped',
      summary: `${bug.modes.join('/')} only (this lab: ${mode})`,
      evidence: [],
      durationMs: 0,
    };
  }
  const baseline = o.baseline ?? baselineOf(lab.topology);
  await flushConntrack(lab);
  try {
    const r = await bug.run({
      lab,
      client: o.client ?? 'client',
      service: o.service ?? 'web',
      baseline,
      udpSourcePort: o.udpSourcePort ?? FIXED_PORTS.udp,
      tcpSourcePort: o.tcpSourcePort ?? FIXED_PORTS.tcp,
      watch: { ...DEFAULT_WATCH, ...o.watch },
    });
    return { ...head, ...r, durationMs: Math.round(performance.now() - started) };
  } finally {
    await restoreBaseline(lab, baseline);
  }
}
