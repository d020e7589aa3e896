/**
 * kube-proxy's IPVS mode for one node (pkg/proxy/ipvs in kubernetes/kubernetes):
 *
 * - every Service IP (ClusterIP, externalIPs, LoadBalancer ingress IPs) is bound as a /32 on the
 *   dummy interface kube-ipvs0, which stays down as kube-proxy leaves it (local routes exist
 *   for addresses on a down device, which is all IPVS needs);
 * - one IPVS virtual server per IP:port:protocol, and for NodePorts one per node address;
 *   real servers are masqueraded (`-m`); ClientIP affinity is persistence (`-p <timeout>`);
 * - ipsets (KUBE-CLUSTER-IP, KUBE-LOOP-BACK, KUBE-NODE-PORT-TCP, ...) matched by a constant
 *   number of iptables rules do the SNAT decisions, so iptables does not grow with Services;
 * - a Service without endpoints is a virtual server without real servers: IPVS itself answers
 *   new connections with ICMP port unreachable, so clients see "refused" (kube-proxy's IPVS
 *   mode has no REJECT rule per Service);
 * - removed TCP real servers drain at weight 0 before deletion (graceful termination).
 *
 * NodePorts on 127.0.0.1 do not work in IPVS mode: loopback can never be an IPVS VIP, so
 * kube-proxy creates NodePort virtual servers only on the node's other addresses, and
 * `curl localhost:<nodePort>` on a node is refused (iptables mode answers it via route_localnet).
 */
import { LabError } from '../../exec/index.js';
import { clearStaleUdpFlows, staleUdpFlows } from '../conntrack.js';
import type { NodeContext, NodeProxy, ProxyOptions, ProxyState, SyncResult } from '../types.js';
import {
  DUMMY_DEVICE,
  appliedFromKernel,
  applyDrainCheck,
  applyPatch,
  checkDraining,
  connCounts,
  diffIpvs,
  diffIpvsChanges,
  emptyApplied,
  virtualServersNeedingConnCounts,
  type AppliedState,
  type SyncOps,
} from './diff.js';
import { countRules, iptablesInstall } from './iptables.js';
import { IPSETS, IPSET_KEYS, ipsetCreateLine } from './ipset.js';
import { parseIpvsadmList } from './ipvsadm.js';
import { IpvsPlanner, planIpvs, type IpvsPlan, type IpvsScheduler } from './plan.js';
import { ipvsSysctls } from './sysctl.js';

export {
  IpvsPlanner,
  planIpvs,
  type IpvsPlan,
  type PlanChanges,
  type PlanInput,
  type PlannerConfig,
  type IpvsScheduler,
} from './plan.js';
export {
  applyPatch,
  diffIpvs,
  diffIpvsChanges,
  emptyApplied,
  reconcileGraceful,
  virtualServersNeedingConnCounts,
  type AppliedPatch,
  type AppliedState,
  type IncrementalOps,
  type SyncOps,
} from './diff.js';
export { parseIpvsadmList, type VirtualServer, type RealServer } from './ipvsadm.js';
export { iptablesRules, countRules } from './iptables.js';
export { IPSETS } from './ipset.js';
export { ipvsSysctls, connReuseDecision, parseKernelRelease } from './sysctl.js';

export interface IpvsProxyOptions extends ProxyOptions {
  /** kube-proxy's --ipvs-strict-arp: also set arp_ignore=1 / arp_announce=2. Off by default, as upstream. */
  strictARP?: boolean;
}

export interface GracefulReport {
  /** Real servers deleted because their connections drained (`TCP/VIP:port/RIP:port`). */
  deleted: string[];
  /** Real servers still at weight 0 with connections. */
  draining: string[];
  commands: number;
}

/** The IPVS NodeProxy, plus the graceful-termination check kube-proxy runs every minute. */
export interface IpvsNodeProxy extends NodeProxy {
  /** Deletes quiesced (weight 0) real servers whose ActiveConn + InActConn dropped to 0. */
  reconcileGraceful(): Promise<GracefulReport>;
  /** Real servers at weight 0 waiting for their connections to drain (`TCP/VIP:port/RIP:port`). */
  draining(): string[];
  /** The plan the next sync of `state` would program (pure; uses the node addresses last read). */
  plan(state: ProxyState): IpvsPlan;
}

export function createIpvsProxy(ctx: NodeContext, options: IpvsProxyOptions = {}): IpvsNodeProxy {
  return new IpvsProxy(ctx, options);
}

class IpvsProxy implements IpvsNodeProxy {
  readonly mode = 'ipvs' as const;
  private applied: AppliedState = emptyApplied();
  private nodeIPs: string[];
  /** Kept across syncs: a sync after a one-Service change plans and diffs only that Service. */
  private readonly planner: IpvsPlanner;
  /** Re-read the kernel on the next sync: first sync, or after a failed one. */
  private needsFull = true;
  private installNotes: string[] = [];
  private readonly scheduler: IpvsScheduler;

  constructor(
    private readonly ctx: NodeContext,
    private readonly options: IpvsProxyOptions,
  ) {
    this.scheduler = options.ipvsScheduler ?? 'rr';
    this.nodeIPs = [ctx.nodeIP];
    this.planner = new IpvsPlanner({
      nodeName: ctx.nodeName,
      zone: ctx.zone,
      nodeIP: ctx.nodeIP,
      clusterCIDR: ctx.clusterCIDR,
      scheduler: this.scheduler,
    });
  }

  private get iptablesRestore(): string {
    return this.options.iptablesBackend === 'legacy'
      ? 'iptables-legacy-restore'
      : 'iptables-nft-restore';
  }

  private get iptablesSave(): string {
    return this.options.iptablesBackend === 'legacy' ? 'iptables-legacy-save' : 'iptables-nft-save';
  }

  async install(): Promise<void> {
    const { ctx } = this;
    try {
      // Loads ip_vs if it is a module (its sysctls exist only then). No flush: like kube-proxy,
      // a restarted proxy reconciles existing virtual servers in its first full sync, so
      // established connections survive a proxy restart.
      await ctx.exec('ipvsadm', ['-L', '-n']);
      const sysctls = ipvsSysctls(await ctx.readFile('/proc/sys/kernel/osrelease'), {
        strictARP: this.options.strictARP,
      });
      this.installNotes = sysctls.notes;
      await ctx.exec('sysctl', ['-q', '-w', ...sysctls.settings]);
      // kube-proxy's --ipvs-tcp-timeout / --ipvs-tcpfin-timeout / --ipvs-udp-timeout: 0 keeps the
      // kernel's value. They matter for affinity: a persistence template lives until its last
      // connection entry expires (UDP: 300 s by default), not just timeoutSeconds.
      const t = this.options.ipvsTimeouts;
      if (t && (t.tcp || t.tcpFin || t.udp)) {
        await ctx.exec('ipvsadm', [
          '--set',
          String(t.tcp ?? 0),
          String(t.tcpFin ?? 0),
          String(t.udp ?? 0),
        ]);
      }
      const link = await ctx.exec('ip', ['link', 'add', DUMMY_DEVICE, 'type', 'dummy'], {
        allowFailure: true,
      });
      if (!link.ok && !/File exists/.test(link.stderr)) {
        throw new LabError(`failed to create ${DUMMY_DEVICE}: ${link.stderr.trim()}`);
      }
      const sets = IPSET_KEYS.map((k) => ipsetCreateLine(IPSETS[k]));
      await ctx.exec('ipset', ['restore'], { input: sets.join('\n') + '\n' });
      // The sets must exist before rules that match on them.
      await ctx.exec(this.iptablesRestore, ['--noflush'], { input: iptablesInstall() });
    } catch (err) {
      throw new LabError(`failed to install IPVS proxy on node "${ctx.nodeName}"`, { cause: err });
    }
  }

  plan(state: ProxyState): IpvsPlan {
    return planIpvs({
      state,
      nodeName: this.ctx.nodeName,
      zone: this.ctx.zone,
      nodeIP: this.ctx.nodeIP,
      nodeIPs: this.nodeIPs,
      clusterCIDR: this.ctx.clusterCIDR,
      scheduler: this.scheduler,
    });
  }

  async sync(state: ProxyState, opts: { full?: boolean } = {}): Promise<SyncResult> {
    const started = performance.now();
    const full = opts.full === true || this.needsFull;
    let commands = 0;
    const exec = (file: string, args: string[], input?: string) => {
      commands++;
      return this.ctx.exec(file, args, input === undefined ? undefined : { input });
    };
    try {
      let applied = this.applied;
      let conns;
      if (full) {
        // Full sync: start from what the kernel holds, as kube-proxy does on every sync.
        const addrs = parseAddresses((await exec('ip', ['-o', '-4', 'addr', 'show'])).stdout);
        this.nodeIPs = addrs.nodeIPs.length > 0 ? addrs.nodeIPs : [this.ctx.nodeIP];
        const status = parseIpvsadmList((await exec('ipvsadm', ['-Ln'])).stdout);
        conns = connCounts(status);
        applied = {
          ...applied,
          virtualServers: appliedFromKernel(status),
          boundAddresses: new Set(addrs.bound),
        };
      }
      const desired = this.planner.plan(state, this.nodeIPs);
      const changes = this.planner.changes;
      // A full sync, or a plan redone from scratch (new node addresses), compares everything.
      const whole = full || changes.all;
      if (!conns) {
        const keys = virtualServersNeedingConnCounts(applied, desired, whole ? undefined : changes);
        if (keys.length > 0) conns = await readConnCounts(keys, exec);
      }
      let ops: Omit<SyncOps, 'next'>;
      let commit: () => void;
      if (whole) {
        const all = diffIpvs({ applied, desired, conns, full });
        ops = all;
        commit = () => {
          this.applied = all.next;
        };
      } else {
        const some = diffIpvsChanges({ applied, desired, changes, conns });
        ops = some;
        commit = () => applyPatch(applied, some.patch);
      }
      // Order: set members before the rules and virtual servers that rely on them.
      if (ops.ipset.length > 0) await exec('ipset', ['restore'], ops.ipset.join('\n') + '\n');
      if (ops.ipvsadm.length > 0) await exec('ipvsadm', ['-R'], ops.ipvsadm.join('\n') + '\n');
      if (ops.ip.length > 0) await exec('ip', ['-batch', '-'], ops.ip.join('\n') + '\n');
      if (ops.iptables !== undefined) await exec(this.iptablesRestore, ['--noflush'], ops.iptables);
      // Only now: after a failure the applied state stays the last one that succeeded, and
      // the next sync is a full one anyway.
      commit();
      this.needsFull = false;

      const notes = full ? [...this.installNotes] : [];
      this.installNotes = [];
      // Only ports that left the state can leave stale UDP flows; their successors (same name)
      // are among the ports that entered it (staleUdpFlows pairs them by name).
      const left = changes.removed.filter((sp) => sp.port.protocol === 'UDP');
      if (left.length > 0) {
        const cleared = await clearStaleUdpFlows(
          this.ctx,
          staleUdpFlows(left, changes.added, this.ctx.nodeIP),
        );
        commands += cleared.commands;
        notes.push(...cleared.notes);
      }
      // Last: until here a failure keeps the changes (and the ports that left) for the next sync.
      this.planner.commit();
      const draining = this.applied.graceful.size;
      if (draining > 0) notes.push(`${draining} real server(s) draining at weight 0`);

      let ipsetEntries = 0;
      for (const set of desired.ipsets.values()) ipsetEntries += set.size;
      return {
        mode: 'ipvs',
        strategy: full ? 'full' : 'incremental',
        durationMs: performance.now() - started,
        written: {
          virtualServers: desired.virtualServers.size,
          realServers: this.planner.realServers,
          ipsetEntries,
          boundAddresses: desired.boundAddresses.size,
          ipvsadmLines: ops.ipvsadm.length,
          ipsetLines: ops.ipset.length,
          ipLines: ops.ip.length,
          iptablesRules:
            ops.iptables === undefined
              ? 0
              : Object.values(countRules(ops.iptables)).reduce((a, b) => a + b, 0),
          ...ops.counts,
        },
        commands,
        notes,
      };
    } catch (err) {
      this.needsFull = true;
      throw new LabError(`failed to sync IPVS proxy on node "${this.ctx.nodeName}"`, {
        cause: err,
      });
    }
  }

  draining(): string[] {
    return [...this.applied.graceful].sort();
  }

  async reconcileGraceful(): Promise<GracefulReport> {
    if (this.applied.graceful.size === 0) return { deleted: [], draining: [], commands: 0 };
    try {
      const keys = [
        ...new Set([...this.applied.graceful].map((g) => g.slice(0, g.lastIndexOf('/')))),
      ].sort();
      const conns = await readConnCounts(keys, (file, args) => this.ctx.exec(file, args));
      // Only the virtual servers with quiesced real servers; applied only once -R succeeded.
      const r = checkDraining(
        (k) => this.applied.virtualServers.get(k),
        this.applied.graceful,
        conns,
      );
      if (r.ipvsadm.length > 0)
        await this.ctx.exec('ipvsadm', ['-R'], { input: r.ipvsadm.join('\n') + '\n' });
      applyDrainCheck(this.applied, r);
      return {
        deleted: r.deleted,
        draining: [...r.graceful].sort(),
        commands: r.ipvsadm.length > 0 ? 2 : 1,
      };
    } catch (err) {
      this.needsFull = true;
      throw new LabError(
        `failed to check draining IPVS real servers on node "${this.ctx.nodeName}"`,
        { cause: err },
      );
    }
  }

  async dump(): Promise<Record<string, string>> {
    const { ctx } = this;
    const out = async (file: string, args: string[]) => {
      const r = await ctx.exec(file, args, { allowFailure: true });
      return r.ok
        ? r.stdout
        : `${[file, ...args].join(' ')} failed (exit ${r.exitCode}): ${r.stderr.trim()}`;
    };
    const conntrack = await ctx
      .readFile('/proc/net/nf_conntrack')
      .catch((e: unknown) => `unreadable: ${String(e)}`);
    return {
      ipvsadm: `${await out('ipvsadm', ['-Ln'])}\n${await out('ipvsadm', ['-Ln', '--stats'])}`,
      ipset: await out('ipset', ['list']),
      'iptables-save': await out(this.iptablesSave, []),
      'kube-ipvs0': await out('ip', ['addr', 'show', DUMMY_DEVICE]),
      conntrack,
    };
  }
}

/** Splits `ip -o -4 addr show` into the node's addresses (NodePort VIPs) and those bound on kube-ipvs0. */
export function parseAddresses(text: string): { nodeIPs: string[]; bound: string[] } {
  const nodeIPs: string[] = [];
  const bound: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+(\d+\.\d+\.\d+\.\d+)\//.exec(line);
    if (!m) continue;
    const [, dev, ip] = m as unknown as [string, string, string];
    if (dev === DUMMY_DEVICE) bound.push(ip);
    else if (!ip.startsWith('127.')) nodeIPs.push(ip);
  }
  return { nodeIPs, bound };
}

/**
 * Connection counts of the given virtual servers. A few: one `ipvsadm -Ln -t|-u VIP:port` each
 * (constant work in the kernel); many: one listing of the whole table. Listing everything on
 * every endpoint change made a one-Service update grow with the number of Services.
 */
async function readConnCounts(
  keys: string[],
  exec: (file: string, args: string[]) => Promise<{ stdout: string }>,
): Promise<ReturnType<typeof connCounts>> {
  if (keys.length > 4) return connCounts(parseIpvsadmList((await exec('ipvsadm', ['-Ln'])).stdout));
  const status = [];
  for (const key of keys) {
    const [protocol, addressPort] = key.split('/') as [string, string];
    const list = await exec('ipvsadm', ['-Ln', protocol === 'UDP' ? '-u' : '-t', addressPort]);
    status.push(...parseIpvsadmList(list.stdout));
  }
  return connCounts(status);
}
