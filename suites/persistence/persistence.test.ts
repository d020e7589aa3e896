import { beforeAll, describe, expect, it } from 'vitest';
import { useLab } from '../../src/harness/lab-fixture.js';
import {
  EVENTS,
  isDestructive,
  eventSkipReason,
  fixedPorts,
  KNOWN_BUGS,
  matrixModeOf,
  runEvent,
  runKnownBug,
  type Baseline,
  type EventResult,
  type FlowKind,
  type FlowOutcome,
  type KnownBugResult,
} from '../../src/persistence/index.js';
import { baselineOf } from '../../src/persistence/lab-state.js';

// Connection persistence across updates (issue 6). Long-lived flows (a TCP heartbeat stream, an
// idle keep-alive TCP connection, UDP from a fixed source port) are opened to the ClusterIP, all
// on one endpoint; then an update goes through the same sync a user's change takes, and each
// flow is judged with deadlines (see src/persistence/outcome.ts). Only cells whose answer follows
// from how the mode works are asserted, each with its reason; `svclab matrix` records all cells.
const f = useLab('persistence.yaml');
const mode = matrixModeOf(f.config.proxy, f.config.proxyOptions);
const ipvs = mode === 'ipvs';
const skip = f.skipFor('mode', !mode && 'no Service proxy (--proxy none): nothing to persist');
const ipvsOnly = skip ?? f.skipFor('mode', !ipvs && 'IPVS-only cases run with --proxy ipvs');

interface Expectation {
  outcome: FlowOutcome | FlowOutcome[];
  why: string;
}
type Expected = Partial<Record<FlowKind, Expectation>>;

const UNTOUCHED =
  'established flows are translated by their conntrack entry (IPVS: its connection entry), not by the rules; the ' +
  'serving endpoint stays, so rewriting rules or sets must not disturb them';
const survivesAll = (why = UNTOUCHED): Expected => ({
  stream: { outcome: 'survived', why },
  conn: { outcome: 'survived', why },
  udp: { outcome: 'survived', why },
});

/** Conntrack netlink deletes failed: the sync result says so (src/proxy/conntrack.ts). */
const conntrackFailed = (r: EventResult) => r.notes.some((n) => /were not deleted/.test(n));

function udpAfterRemoval(r: EventResult): Expectation {
  if (conntrackFailed(r)) {
    return {
      outcome: 'survived',
      why: 'the stale UDP entry could not be deleted (no conntrack netlink): it keeps DNATing to the removed endpoint (kubernetes#48370, #105657)',
    };
  }
  return {
    outcome: 'moved',
    why: ipvs
      ? 'UDP real servers are deleted at once (no graceful termination for UDP) and expire_nodest_conn=1 expires the IPVS entry; the proxy deletes the conntrack entry too, so the next datagram is balanced afresh'
      : 'the proxy deletes the UDP conntrack entries of endpoints that stopped serving (kubernetes#48370, #105657), so the next datagram from the same port is balanced afresh',
  };
}

/** What each event must do to each flow in this mode; cells left out are recorded, not asserted. */
function expected(event: string, r: EventResult): Expected {
  switch (event) {
    case 'scale-out':
    case 'scale-in':
    case 'affinity-timeout':
    case 'affinity-on':
    case 'affinity-off':
    case 'type-nodeport':
    case 'full-resync':
      return survivesAll();
    case 'proxy-restart':
      // Real kube-proxy also flushes every UDP Service's conntrack entries on its first sync
      // (kubernetes#122740); svclab's proxies delete only entries of endpoints that left.
      // kube-proxy does not clear IPVS virtual servers when it starts either: deleting them
      // with expire_nodest_conn=1 would drop every established connection.
      return survivesAll(
        `${UNTOUCHED}; a restarted proxy programs the same endpoints and clears nothing`,
      );
    case 'endpoint-removed': {
      const tcp: Expectation = ipvs
        ? {
            outcome: 'survived',
            why: 'graceful termination: a real server with connections goes to weight 0 and is deleted only once drained (kubernetes#57841)',
          }
        : {
            outcome: 'survived',
            why: 'kube-proxy deletes no TCP conntrack entries and the pod still answers: the connection lives on (kubernetes#101968, #100698)',
          };
      return { stream: tcp, conn: tcp, udp: udpAfterRemoval(r) };
    }
    case 'endpoint-terminating': {
      const why =
        'a terminating endpoint gets no new connections, but nothing ends established ones';
      const out: Expected = {
        stream: { outcome: 'survived', why },
        conn: { outcome: 'survived', why },
      };
      if (!ipvs)
        out.udp = {
          outcome: 'survived',
          why: 'a terminating endpoint that is still serving is not stale: its UDP entries stay (kubernetes#127780)',
        };
      return out;
    }
    case 'pod-deleted': {
      const why =
        "the server's process and namespace are gone: its kernel closed the sockets (FIN, or RST for unread data)";
      return {
        stream: { outcome: ['closed', 'reset'], why },
        conn: { outcome: ['closed', 'reset'], why },
        udp: udpAfterRemoval(r),
      };
    }
    default:
      throw new Error(`no expectation for event ${event}`);
  }
}

function check(r: EventResult): void {
  const problems: string[] = [];
  for (const [kind, exp] of Object.entries(expected(r.event, r)) as [FlowKind, Expectation][]) {
    const got = r.flows[kind];
    const want = Array.isArray(exp.outcome) ? exp.outcome : [exp.outcome];
    if (!want.includes(got.outcome)) {
      problems.push(
        `${kind}: expected ${want.join(' or ')} because ${exp.why}; saw ${got.outcome} (${got.before} -> ${got.after ?? '-'}): ${got.evidence}`,
      );
    }
  }
  // Whatever happened to old flows, the Service must take new connections once the sync returned.
  if (!r.newConnection.ok)
    problems.push(
      `no new connection succeeded after the update: ${JSON.stringify(r.newConnection)}`,
    );
  expect(
    problems,
    `${r.event} on ${f.config.label} (serving ${r.serving}; notes: ${r.notes.join('; ') || 'none'})`,
  ).toEqual([]);
}

function report(r: KnownBugResult): void {
  process.stderr.write(
    `svclab: ${f.config.label}: ${r.id} (${r.issues.map((n) => `kubernetes#${n}`).join(', ')}): ${r.status}: ${r.summary}\n  ${r.evidence.join('\n  ')}\n`,
  );
}

describe.skipIf(skip)(`connection persistence (${f.config.label})`, () => {
  let baseline: Baseline;
  let step = 0;
  // Distinct fixed source ports per case: a UDP conntrack entry (30-120 s) or an IPVS connection
  // entry of one case must not steer the next.
  const ports = () => fixedPorts(step++);
  beforeAll(() => {
    baseline = baselineOf(f.lab.topology);
  });

  const bug = (id: string) => KNOWN_BUGS.find((b) => b.id === id)!;

  for (const event of EVENTS.filter((e) => !isDestructive(e, f.config))) {
    it(`${event.title} (${event.id})`, async (ctx) => {
      // e.g. proxy-restart on a cluster svclab may not restart kube-proxy on: an expected skip.
      const why = eventSkipReason(f.lab, event);
      if (why) ctx.skip(why);
      check(await runEvent(f.lab, event, { baseline, udpSourcePort: ports().udpSourcePort }));
    });
  }

  it('stale UDP conntrack after an endpoint change (kubernetes#48370, #105657): not reproduced where conntrack netlink works', async () => {
    const r = await runKnownBug(f.lab, bug('stale-udp-conntrack'), { baseline, ...ports() });
    report(r);
    const netlinkFailed = r.evidence.some((e) => /sync note: .*were not deleted/.test(e));
    // With netlink the proxy deletes the entry, so the next datagram is balanced afresh; without
    // it the entry keeps pointing at the removed endpoint.
    expect(r.status, r.evidence.join('\n')).toBe(netlinkFailed ? 'reproduced' : 'not-reproduced');
  });

  it('connections to a removed endpoint whose pod still runs (kubernetes#101968): they live on', async () => {
    const r = await runKnownBug(f.lab, bug('removed-endpoint-pod-running'), {
      baseline,
      ...ports(),
    });
    report(r);
    // iptables/nftables: kube-proxy never deletes TCP conntrack entries ("the connection lives on
    // as if nothing has happened"). IPVS: graceful termination keeps a real server with
    // connections at weight 0 instead of deleting it (which would black-hole them).
    expect(r.status, r.evidence.join('\n')).toBe('reproduced');
  });

  it.skipIf(ipvsOnly)(
    'IPVS graceful termination with ClientIP affinity (kubernetes#71809): fixed by expire_quiescent_template=1',
    async () => {
      const r = await runKnownBug(f.lab, bug('ipvs-affinity-quiescent'), { baseline, ...ports() });
      report(r);
      // kube-proxy sets net.ipv4.vs.expire_quiescent_template=1 (kubernetes#71834): a template to
      // a weight-0 real server expires, so new connections from the same client go elsewhere.
      const sysctlOn = r.evidence.some((e) => /expire_quiescent_template=1\b/.test(e));
      expect(r.status, r.evidence.join('\n')).toBe(sysctlOn ? 'not-reproduced' : 'reproduced');
    },
  );

  it.skipIf(ipvsOnly)(
    'IPVS connection reuse from a reused client port (kubernetes#70747, #81775): reported with evidence',
    async () => {
      // Kernel-dependent (conn_reuse_mode and the 5.9 fix for the 1 s SYN drop): the case must run
      // and name what it saw; svclab matrix records which way it went on which kernel.
      for (const id of ['ipvs-port-reuse-removed', 'ipvs-port-reuse-delay']) {
        const r = await runKnownBug(f.lab, bug(id), { baseline, ...ports() });
        report(r);
        expect(r.status).not.toBe('skipped');
        expect(
          r.evidence.some((e) => /second connection: /.test(e)),
          r.evidence.join('\n'),
        ).toBe(true);
      }
    },
  );

  // Destructive: the pod is gone for good, so this runs last on the suite's lab.
  for (const event of EVENTS.filter((e) => isDestructive(e, f.config))) {
    it(`${event.title} (${event.id})`, async (ctx) => {
      const why = eventSkipReason(f.lab, event);
      if (why) ctx.skip(why);
      check(await runEvent(f.lab, event, { baseline, udpSourcePort: ports().udpSourcePort }));
    });
  }
});
