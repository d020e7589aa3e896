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
import type { IpvsPlan, PlanChanges, PlannedVirtualServer } from './plan.js';

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
export function needsConnCounts(
  applied: AppliedState,
  desired: IpvsPlan,
  changes?: PlanChanges,
): boolean {
  return virtualServersNeedingConnCounts(applied, desired, changes).length > 0;
}

/**
 * The virtual servers (vsKey) whose connection counts the diff needs: those with draining real
 * servers and TCP ones losing a real server. Usually one or two, so the sync can list just those
 * instead of the whole IPVS table (which grows with the number of Services). With the planner's
 * `changes`, only the virtual servers it touched can lose one: the others are not looked at.
 */
export function virtualServersNeedingConnCounts(
  applied: AppliedState,
  desired: IpvsPlan,
  changes?: PlanChanges,
): string[] {
  const keys = new Set<string>();
  for (const g of applied.graceful) keys.add(vsKeyOf(g));
  const candidates =
    changes && !changes.all ? changes.virtualServers : applied.virtualServers.keys();
  for (const key of candidates) {
    const vs = applied.virtualServers.get(key);
    if (vs?.protocol !== 'TCP') continue;
    const want = desired.virtualServers.get(key);
    if (!want) continue; // the whole virtual server goes: -D, no draining (kube-proxy's cleanLegacyService)
    const wanted = new Set(want.realServers.map((r) => rsKey(vs, r)));
    if (vs.realServers.some((r) => !wanted.has(rsKey(vs, r)))) keys.add(key);
  }
  return [...keys].sort();
}

/** `TCP/10.96.0.10:80` of `TCP/10.96.0.10:80/10.244.1.2:8080`. */
function vsKeyOf(rsKey: string): string {
  return rsKey.slice(0, rsKey.lastIndexOf('/'));
}

function zeroCounts(): DiffCounts {
  return {
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
}

/**
 * One wanted virtual server against what the kernel has: appends its lines, updates `graceful`
 * and returns what the kernel holds afterwards (wanted real servers plus quiesced ones).
 */
function diffVirtualServer(
  want: PlannedVirtualServer,
  have: VirtualServer | undefined,
  graceful: Set<string>,
  conns: ReadonlyMap<string, ConnCounts> | undefined,
  ipvsadm: string[],
  counts: DiffCounts,
): VirtualServer {
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
      // Already quiesced: drained ones are deleted by checkDraining, the rest stay at weight 0.
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
  return { ...vsFields, realServers: nextRS };
}

/** An unwanted virtual server goes with its real servers, draining ones included. */
function deleteVirtualServer(
  have: VirtualServer,
  graceful: Set<string>,
  ipvsadm: string[],
  counts: DiffCounts,
): void {
  ipvsadm.push(vsDeleteLine(have));
  counts.virtualServersDeleted++;
  for (const rs of have.realServers) graceful.delete(rsKey(have, rs));
}

export function diffIpvs(input: DiffInput): SyncOps {
  const { applied, desired, conns } = input;
  const counts = zeroCounts();
  const ipvsadm: string[] = [];
  const graceful = new Set(applied.graceful);
  const nextVS = new Map<string, VirtualServer>();

  for (const key of [...desired.virtualServers.keys()].sort()) {
    const want = desired.virtualServers.get(key)!;
    const have = applied.virtualServers.get(key);
    nextVS.set(key, diffVirtualServer(want, have, graceful, conns, ipvsadm, counts));
  }

  for (const [key, have] of [...applied.virtualServers].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    if (desired.virtualServers.has(key)) continue;
    deleteVirtualServer(have, graceful, ipvsadm, counts);
  }

  // Check the quiesced real servers (kube-proxy does it every minute; here on every sync that read counts).
  let nextGraceful = graceful;
  if (conns) {
    const drained = checkDraining((k) => nextVS.get(k), graceful, conns);
    for (const line of drained.ipvsadm) ipvsadm.push(line);
    counts.realServersDeleted += drained.deleted.length;
    for (const [k, v] of drained.updated) nextVS.set(k, v);
    nextGraceful = drained.graceful;
  }

  const ipset = diffIpsets(applied.ipsets, desired.ipsets, input.full ?? false, counts);
  const ip: string[] = [];
  for (const addr of [...desired.boundAddresses].sort()) {
    if (applied.boundAddresses.has(addr)) continue;
    ip.push(addressLine('replace', addr));
    counts.addressesAdded++;
  }
  for (const addr of [...applied.boundAddresses].sort()) {
    if (desired.boundAddresses.has(addr)) continue;
    ip.push(addressLine('del', addr));
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
      graceful: nextGraceful,
    },
  };
}

// replace, not add: idempotent if the address is already there, so a batch never aborts on it.
function addressLine(op: 'replace' | 'del', addr: string): string {
  return `address ${op} ${addr}/32 dev ${DUMMY_DEVICE}`;
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

/** How an incremental sync changes the AppliedState once its commands succeeded. */
export interface AppliedPatch {
  /** New contents by vsKey; undefined: deleted. */
  virtualServers: Map<string, VirtualServer | undefined>;
  ipsetAdds: Map<IpsetKey, string[]>;
  ipsetDels: Map<IpsetKey, string[]>;
  addressAdds: string[];
  addressDels: string[];
  iptables: string;
  graceful: Set<string>;
}

/** An incremental sync's operations; `patch` turns the applied state into the next one. */
export interface IncrementalOps extends Omit<SyncOps, 'next'> {
  patch: AppliedPatch;
}

export interface ChangesDiffInput {
  applied: AppliedState;
  desired: IpvsPlan;
  /** What the planner changed since the kernel last held its plan (`all` false). */
  changes: PlanChanges;
  /** ActiveConn/InActConn by rsKey for virtualServersNeedingConnCounts(applied, desired, changes). */
  conns?: ReadonlyMap<string, ConnCounts> | undefined;
}

/**
 * diffIpvs (not full) for a plan that differs from what was applied only where `changes` says:
 * the same lines in the same order, but looking at the changed keys and the draining real
 * servers only, so that one Service's change costs the same with 10 or 50,000 Services. The
 * applied state is left alone; applyPatch(applied, ops.patch) updates it in place once the
 * kernel commands succeeded.
 */
export function diffIpvsChanges(input: ChangesDiffInput): IncrementalOps {
  const { applied, desired, changes, conns } = input;
  if (changes.all) throw new Error('diffIpvsChanges needs changes since a commit; use diffIpvs');
  const counts = zeroCounts();
  const ipvsadm: string[] = [];
  const graceful = new Set(applied.graceful);
  const patchVS = new Map<string, VirtualServer | undefined>();

  // Untouched virtual servers hold what was planned plus quiesced real servers, which only
  // checkDraining below looks at: diffIpvs would write nothing for them.
  const keys = [...changes.virtualServers].sort();
  for (const key of keys) {
    const want = desired.virtualServers.get(key);
    if (!want) continue;
    const have = applied.virtualServers.get(key);
    patchVS.set(key, diffVirtualServer(want, have, graceful, conns, ipvsadm, counts));
  }
  for (const key of keys) {
    if (desired.virtualServers.has(key)) continue;
    const have = applied.virtualServers.get(key);
    if (!have) continue;
    deleteVirtualServer(have, graceful, ipvsadm, counts);
    patchVS.set(key, undefined);
  }
  let nextGraceful = graceful;
  if (conns) {
    const drained = checkDraining(
      (k) => (patchVS.has(k) ? patchVS.get(k) : applied.virtualServers.get(k)),
      graceful,
      conns,
    );
    for (const line of drained.ipvsadm) ipvsadm.push(line);
    counts.realServersDeleted += drained.deleted.length;
    for (const [k, v] of drained.updated) patchVS.set(k, v);
    nextGraceful = drained.graceful;
  }

  const ipset: string[] = [];
  const ipsetAdds = new Map<IpsetKey, string[]>();
  const ipsetDels = new Map<IpsetKey, string[]>();
  for (const key of IPSET_KEYS) {
    const touched = changes.ipsets.get(key);
    if (!touched || touched.size === 0) continue;
    const name = IPSETS[key].name;
    const want = desired.ipsets.get(key)!;
    const have = applied.ipsets.get(key)!;
    const sorted = [...touched].sort();
    const dels = sorted.filter((e) => have.has(e) && !want.has(e));
    const adds = sorted.filter((e) => want.has(e) && !have.has(e));
    for (const e of dels) ipset.push(`del ${name} ${e} -exist`);
    for (const e of adds) ipset.push(`add ${name} ${e} -exist`);
    counts.ipsetEntriesDeleted += dels.length;
    counts.ipsetEntriesAdded += adds.length;
    ipsetAdds.set(key, adds);
    ipsetDels.set(key, dels);
  }

  const touchedAddrs = [...changes.boundAddresses].sort();
  const addressAdds = touchedAddrs.filter(
    (a) => desired.boundAddresses.has(a) && !applied.boundAddresses.has(a),
  );
  const addressDels = touchedAddrs.filter(
    (a) => applied.boundAddresses.has(a) && !desired.boundAddresses.has(a),
  );
  const ip = [
    ...addressAdds.map((a) => addressLine('replace', a)),
    ...addressDels.map((a) => addressLine('del', a)),
  ];
  counts.addressesAdded += addressAdds.length;
  counts.addressesDeleted += addressDels.length;

  return {
    ipvsadm,
    ipset,
    ip,
    iptables: applied.iptables !== desired.iptables ? desired.iptables : undefined,
    counts,
    patch: {
      virtualServers: patchVS,
      ipsetAdds,
      ipsetDels,
      addressAdds,
      addressDels,
      iptables: desired.iptables,
      graceful: nextGraceful,
    },
  };
}

/** Applies an incremental sync's patch to the applied state, in place (no copy of its maps). */
export function applyPatch(applied: AppliedState, patch: AppliedPatch): void {
  for (const [k, v] of patch.virtualServers) {
    if (v) applied.virtualServers.set(k, v);
    else applied.virtualServers.delete(k);
  }
  for (const [k, members] of patch.ipsetDels) {
    const set = applied.ipsets.get(k)!;
    for (const e of members) set.delete(e);
  }
  for (const [k, members] of patch.ipsetAdds) {
    const set = applied.ipsets.get(k)!;
    for (const e of members) set.add(e);
  }
  for (const a of patch.addressDels) applied.boundAddresses.delete(a);
  for (const a of patch.addressAdds) applied.boundAddresses.add(a);
  applied.iptables = patch.iptables;
  applied.graceful = patch.graceful;
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
  const drained = checkDraining((k) => applied.virtualServers.get(k), applied.graceful, conns);
  const virtualServers = new Map(applied.virtualServers);
  for (const [k, v] of drained.updated) virtualServers.set(k, v);
  return {
    ipvsadm: drained.ipvsadm,
    deleted: drained.deleted,
    next: { ...applied, virtualServers, graceful: drained.graceful },
  };
}

/**
 * Applies a checkDraining result to the proxy's own applied state, in place (only the virtual
 * servers that lost real servers change), once its ipvsadm lines succeeded.
 */
export function applyDrainCheck(applied: AppliedState, drained: DrainCheck): void {
  for (const [k, vs] of drained.updated) applied.virtualServers.set(k, vs);
  applied.graceful = drained.graceful;
}

export interface DrainCheck {
  ipvsadm: string[];
  /** rsKeys deleted because they drained. */
  deleted: string[];
  /** The quiesced real servers still draining afterwards. */
  graceful: Set<string>;
  /** The virtual servers that lost real servers, by vsKey, as they are afterwards. */
  updated: Map<string, VirtualServer>;
}

/**
 * reconcileGraceful's pass over only the virtual servers that have quiesced real servers (in
 * vsKey order), so that it costs the same however many Services there are. Quiesced entries
 * whose virtual server `lookup` does not know are stale and forgotten.
 */
export function checkDraining(
  lookup: (vsKey: string) => VirtualServer | undefined,
  graceful: ReadonlySet<string>,
  conns: ReadonlyMap<string, ConnCounts>,
): DrainCheck {
  const ipvsadm: string[] = [];
  const deleted: string[] = [];
  const next = new Set(graceful);
  const updated = new Map<string, VirtualServer>();
  const byVS = new Map<string, string[]>();
  for (const g of graceful) {
    const key = vsKeyOf(g);
    const list = byVS.get(key);
    if (list) list.push(g);
    else byVS.set(key, [g]);
  }
  for (const key of [...byVS.keys()].sort()) {
    const vs = lookup(key);
    if (!vs) {
      for (const g of byVS.get(key)!) next.delete(g);
      continue;
    }
    const kept: RealServer[] = [];
    for (const rs of vs.realServers) {
      const k = rsKey(vs, rs);
      if (!next.has(k)) {
        kept.push(rs);
        continue;
      }
      const outcome = checkGraceful(conns.get(k));
      if (outcome === 'keep') {
        kept.push(rs);
        continue;
      }
      next.delete(k);
      if (outcome === 'delete') {
        ipvsadm.push(rsDeleteLine(vs, rs));
        deleted.push(k);
      }
    }
    if (kept.length !== vs.realServers.length) updated.set(key, { ...vs, realServers: kept });
  }
  return { ipvsadm, deleted, graceful: next, updated };
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
