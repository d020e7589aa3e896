import { checkGraceful, decideRemoval, type ConnCounts } from './graceful.js';
import { IPSETS, IPSET_KEYS, ipsetCreateLine, type IpsetKey } from './ipset.js';
import {
  rsDeleteLine,
  rsKey,
  rsLine,
  vsDeleteLine,
  vsKey,
  vsLine,
  type RealServer,
  type VirtualServer,
} from './ipvsadm.js';
import type { IpvsPlan } from './plan.js';

export const DUMMY_DEVICE = 'kube-ipvs0';

/** What the kernel holds, as far as this proxy knows: the previous sync's result, or what a full sync read. */
export interface AppliedState {
  /** Keyed by vsKey; real servers include quiesced ones (weight 0). */
  virtualServers: Map<string, VirtualServer>;
  ipsets: Map<IpsetKey, Set<string>>;
  boundAddresses: Set<string>;
  /** The last iptables-restore input written, or undefined if none yet. */
  iptables: string | undefined;
  /** rsKeys of real servers at weight 0 waiting for their connections to drain. */
  graceful: Set<string>;
}

export function emptyApplied(): AppliedState {
  return {
    virtualServers: new Map(),
    ipsets: new Map(IPSET_KEYS.map((k) => [k, new Set<string>()])),
    boundAddresses: new Set(),
    iptables: undefined,
    graceful: new Set(),
  };
}

export interface DiffInput {
  applied: AppliedState;
  desired: IpvsPlan;
  /** ActiveConn/InActConn by rsKey, read from `ipvsadm -Ln` this sync (see needsConnCounts). */
  conns?: ReadonlyMap<string, ConnCounts> | undefined;
  /** Rewrite every ipset (create, flush, add) and the iptables rules even when unchanged. */
  full?: boolean | undefined;
}

export interface DiffCounts {
  virtualServersAdded: number;
  virtualServersEdited: number;
  virtualServersDeleted: number;
  realServersAdded: number;
  realServersEdited: number;
  realServersDeleted: number;
  realServersQuiesced: number;
  ipsetEntriesAdded: number;
  ipsetEntriesDeleted: number;
  addressesAdded: number;
  addressesDeleted: number;
}

/** Incremental operations for one sync: at most one process per tool. */
export interface SyncOps {
  /** `ipvsadm -R` input lines. */
  ipvsadm: string[];
  /** `ipset restore` input lines. */
  ipset: string[];
  /** `ip -batch` input lines (kube-ipvs0 addresses). */
  ip: string[];
  /** iptables-restore --noflush input, only when the (constant-size) rules changed. */
  iptables: string | undefined;
  counts: DiffCounts;
  /** The state after the operations succeed. */
  next: AppliedState;
}

/**
 * Whether this diff needs connection counts: a TCP real server is about to leave (kube-proxy
 * deletes it outright only when it has no connections), or quiesced ones await their check.
 */
export function needsConnCounts(applied: AppliedState, desired: IpvsPlan): boolean {
  return virtualServersNeedingConnCounts(applied, desired).length > 0;
}

/**
 * The virtual servers (vsKey) whose connection counts the diff needs: those with draining real
 * servers and TCP ones losing a real server. Usually one or two, so the sync can list just those
 * instead of the whole IPVS table (which grows with the number of Services).
 */
export function virtualServersNeedingConnCounts(
  applied: AppliedState,
  desired: IpvsPlan,
): string[] {
  const keys = new Set<string>();
  for (const g of applied.graceful) keys.add(g.split('/').slice(0, 2).join('/'));
  for (const [key, vs] of applied.virtualServers) {
    if (vs.protocol !== 'TCP') continue;
    const want = desired.virtualServers.get(key);
    if (!want) continue; // the whole virtual server goes: -D, no draining (kube-proxy's cleanLegacyService)
    const wanted = new Set(want.realServers.map((r) => rsKey(vs, r)));
    if (vs.realServers.some((r) => !wanted.has(rsKey(vs, r)))) keys.add(key);
  }
  return [...keys].sort();
}

export function diffIpvs(input: DiffInput): SyncOps {
  const { applied, desired, conns } = input;
  const counts: DiffCounts = {
    virtualServersAdded: 0,
    virtualServersEdited: 0,
    virtualServersDeleted: 0,
    realServersAdded: 0,
    realServersEdited: 0,
    realServersDeleted: 0,
    realServersQuiesced: 0,
    ipsetEntriesAdded: 0,
    ipsetEntriesDeleted: 0,
    addressesAdded: 0,
    addressesDeleted: 0,
  };
  const ipvsadm: string[] = [];
  const graceful = new Set(applied.graceful);
  const nextVS = new Map<string, VirtualServer>();

  for (const key of [...desired.virtualServers.keys()].sort()) {
    const want = desired.virtualServers.get(key)!;
    const have = applied.virtualServers.get(key);
    const { servicePort: _name, realServers: wantRS, ...vsFields } = want;
    if (!have) {
      ipvsadm.push(vsLine('-A', vsFields));
      counts.virtualServersAdded++;
    } else if (have.scheduler !== want.scheduler || have.persistence !== want.persistence) {
      ipvsadm.push(vsLine('-E', vsFields));
      counts.virtualServersEdited++;
    }
    const haveRS = new Map((have?.realServers ?? []).map((r) => [rsKey(want, r), r]));
    const nextRS: RealServer[] = [];
    for (const rs of wantRS) {
      const k = rsKey(want, rs);
      const cur = haveRS.get(k);
      if (cur && graceful.has(k)) {
        // The endpoint came back while draining: kube-proxy deletes it and adds it anew
        // (MoveRSOutofGracefulDeleteList), which drops the connections it still had.
        ipvsadm.push(rsDeleteLine(want, rs), rsLine('-a', want, rs));
        graceful.delete(k);
        counts.realServersDeleted++;
        counts.realServersAdded++;
      } else if (!cur) {
        ipvsadm.push(rsLine('-a', want, rs));
        counts.realServersAdded++;
      } else if (cur.weight !== rs.weight) {
        ipvsadm.push(rsLine('-e', want, rs));
        counts.realServersEdited++;
      }
      nextRS.push(rs);
    }
    const wanted = new Set(wantRS.map((r) => rsKey(want, r)));
    for (const [k, cur] of haveRS) {
      if (wanted.has(k)) continue;
      if (graceful.has(k)) {
        // Already quiesced: drained ones are deleted below, the rest stay at weight 0.
        nextRS.push(cur);
        continue;
      }
      const decision = conns
        ? decideRemoval(want.protocol, conns.get(k))
        : want.protocol === 'UDP'
          ? 'delete'
          : 'quiesce';
      if (decision === 'delete') {
        ipvsadm.push(rsDeleteLine(want, cur));
        counts.realServersDeleted++;
      } else {
        const quiesced = { ...cur, weight: 0 };
        ipvsadm.push(rsLine('-e', want, quiesced));
        graceful.add(k);
        nextRS.push(quiesced);
        counts.realServersQuiesced++;
      }
    }
    nextVS.set(key, { ...vsFields, realServers: nextRS });
  }

  for (const [key, have] of [...applied.virtualServers].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    if (desired.virtualServers.has(key)) continue;
    ipvsadm.push(vsDeleteLine(have));
    counts.virtualServersDeleted++;
    for (const rs of have.realServers) graceful.delete(rsKey(have, rs));
  }

  // Check the quiesced real servers (kube-proxy does it every minute; here on every sync that read counts).
  if (conns) {
    const drained = reconcileGraceful({ ...applied, virtualServers: nextVS, graceful }, conns);
    for (const line of drained.ipvsadm) ipvsadm.push(line);
    counts.realServersDeleted += drained.deleted.length;
    nextVS.clear();
    for (const [k, v] of drained.next.virtualServers) nextVS.set(k, v);
    graceful.clear();
    for (const k of drained.next.graceful) graceful.add(k);
  }

  const ipset = diffIpsets(applied.ipsets, desired.ipsets, input.full ?? false, counts);
  const ip: string[] = [];
  for (const addr of [...desired.boundAddresses].sort()) {
    if (applied.boundAddresses.has(addr)) continue;
    // replace, not add: idempotent if the address is already there, so a batch never aborts on it.
    ip.push(`address replace ${addr}/32 dev ${DUMMY_DEVICE}`);
    counts.addressesAdded++;
  }
  for (const addr of [...applied.boundAddresses].sort()) {
    if (desired.boundAddresses.has(addr)) continue;
    ip.push(`address del ${addr}/32 dev ${DUMMY_DEVICE}`);
    counts.addressesDeleted++;
  }

  const iptables =
    input.full || applied.iptables !== desired.iptables ? desired.iptables : undefined;
  return {
    ipvsadm,
    ipset,
    ip,
    iptables,
    counts,
    next: {
      virtualServers: nextVS,
      ipsets: new Map([...desired.ipsets].map(([k, v]) => [k, new Set(v)])),
      boundAddresses: new Set(desired.boundAddresses),
      iptables: desired.iptables,
      graceful,
    },
  };
}

function diffIpsets(
  applied: ReadonlyMap<IpsetKey, Set<string>>,
  desired: ReadonlyMap<IpsetKey, Set<string>>,
  full: boolean,
  counts: DiffCounts,
): string[] {
  const lines: string[] = [];
  for (const key of IPSET_KEYS) {
    const name = IPSETS[key].name;
    const want = desired.get(key) ?? new Set<string>();
    const have = full ? new Set<string>() : (applied.get(key) ?? new Set<string>());
    if (full) lines.push(ipsetCreateLine(IPSETS[key]), `flush ${name}`);
    for (const e of [...have].sort()) {
      if (want.has(e)) continue;
      lines.push(`del ${name} ${e} -exist`);
      counts.ipsetEntriesDeleted++;
    }
    for (const e of [...want].sort()) {
      if (have.has(e)) continue;
      lines.push(`add ${name} ${e} -exist`);
      counts.ipsetEntriesAdded++;
    }
  }
  return lines;
}

export interface GracefulResult {
  ipvsadm: string[];
  /** rsKeys deleted because they drained. */
  deleted: string[];
  next: AppliedState;
}

/**
 * One pass over the quiesced real servers with fresh counts: delete the drained ones, forget the
 * ones no longer in the kernel, keep the rest at weight 0.
 */
export function reconcileGraceful(
  applied: AppliedState,
  conns: ReadonlyMap<string, ConnCounts>,
): GracefulResult {
  const ipvsadm: string[] = [];
  const deleted: string[] = [];
  const graceful = new Set(applied.graceful);
  const virtualServers = new Map<string, VirtualServer>();
  for (const [key, vs] of applied.virtualServers) {
    const kept: RealServer[] = [];
    for (const rs of vs.realServers) {
      const k = rsKey(vs, rs);
      if (!graceful.has(k)) {
        kept.push(rs);
        continue;
      }
      const outcome = checkGraceful(conns.get(k));
      if (outcome === 'keep') {
        kept.push(rs);
        continue;
      }
      graceful.delete(k);
      if (outcome === 'delete') {
        ipvsadm.push(rsDeleteLine(vs, rs));
        deleted.push(k);
      }
    }
    virtualServers.set(key, { ...vs, realServers: kept });
  }
  // Quiesced entries whose virtual server we no longer track are stale.
  for (const k of graceful) {
    const vs = k.split('/').slice(0, 2).join('/');
    if (!virtualServers.has(vs)) graceful.delete(k);
  }
  return { ipvsadm, deleted, next: { ...applied, virtualServers, graceful } };
}

/** Connection counts by rsKey from parsed `ipvsadm -Ln`. */
export function connCounts(
  status: readonly {
    protocol: VirtualServer['protocol'];
    address: string;
    port: number;
    realServers: (RealServer & ConnCounts)[];
  }[],
): Map<string, ConnCounts> {
  const m = new Map<string, ConnCounts>();
  for (const vs of status) {
    for (const rs of vs.realServers)
      m.set(rsKey(vs, rs), { activeConn: rs.activeConn, inactiveConn: rs.inactiveConn });
  }
  return m;
}

/** Applied virtual servers as read from the kernel (`ipvsadm -Ln`), for a full sync. */
export function appliedFromKernel(
  status: readonly (Omit<VirtualServer, 'realServers'> & { realServers: RealServer[] })[],
): Map<string, VirtualServer> {
  return new Map(
    status.map((vs) => [
      vsKey(vs),
      {
        protocol: vs.protocol,
        address: vs.address,
        port: vs.port,
        scheduler: vs.scheduler,
        persistence: vs.persistence,
        realServers: vs.realServers.map((r) => ({
          address: r.address,
          port: r.port,
          weight: r.weight,
        })),
      },
    ]),
  );
}
