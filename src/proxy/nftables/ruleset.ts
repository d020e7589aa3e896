/**
 * The desired contents of `table ip kube-proxy`, as plain data. Rules are written in the
 * canonical form `nft list` prints them (e.g. `meta mark set meta mark | 0x00004000`), so a plan
 * compares line for line with what the kernel reports back.
 */

export interface BaseChainHook {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  /** Numeric priority (dstnat = -100, srcnat = 100), as `nft -j` reports it. */
  priority: number;
}

export interface ChainSpec {
  name: string;
  base?: BaseChainHook | undefined;
  comment?: string | undefined;
  rules: string[];
  /** The Service port (`ns/name:port`) the chain belongs to; undefined for table-level chains. */
  owner?: string | undefined;
}

/** One element of a set or map; `value` is the verdict for maps. */
export interface ElementSpec {
  value?: string | undefined;
  comment?: string | undefined;
  owner?: string | undefined;
}

export interface SetSpec {
  name: string;
  kind: 'set' | 'map';
  /** e.g. `ipv4_addr` or `ipv4_addr . inet_proto . inet_service : verdict`. */
  type: string;
  flags?: string[] | undefined;
  timeoutSeconds?: number | undefined;
  comment?: string | undefined;
  /** Element key (`10.96.0.10 . udp . 53`) → element. Dynamic sets (affinity) have none. */
  elements: Map<string, ElementSpec>;
  owner?: string | undefined;
}

/** The fragment key of table-level objects (no Service port is named ''). */
export const TABLE_LEVEL = '';

/** Everything one Service port contributes to the table, as the planner produced it. */
export interface ServicePortFragment {
  owner: string;
  /** Its own chains, in creation order. */
  chains: ChainSpec[];
  /** Its own sets (ClientIP affinity). */
  sets: SetSpec[];
  /** Its elements of table-level sets and maps (several ports may share a cluster-ips key). */
  elements: { set: string; key: string; element: ElementSpec }[];
}

export interface Ruleset {
  family: 'ip';
  table: string;
  comment: string;
  /** In creation order: table-level chains first. */
  chains: Map<string, ChainSpec>;
  sets: Map<string, SetSpec>;
  /**
   * Service port → its fragment, when the ruleset was planned (not listed from the kernel).
   * Fragments are immutable and reused across plans while their Service port is unchanged, so
   * two plans diff by comparing fragments for identity instead of every chain and element.
   */
  fragments?: Map<string, ServicePortFragment> | undefined;
  /** Set when the planner updated this ruleset's maps in place for a later plan. */
  superseded?: boolean | undefined;
  /** What changed since plan `delta.from` of the same planner, when it was updated in place. */
  delta?: RulesetDelta | undefined;
}

/** A plan made by updating the previous plan's maps: what every touched object was before. */
export interface RulesetDelta {
  /** The plan this one was derived from (whose maps were updated to make this one). */
  base: Ruleset;
  /** Service ports whose fragment changed (prev undefined: added; next undefined: removed). */
  fragments: {
    key: string;
    prev?: ServicePortFragment | undefined;
    next?: ServicePortFragment | undefined;
  }[];
  /** Chain and set names the changed fragments had or have → the object before (or none). */
  chains: Map<string, ChainSpec | undefined>;
  sets: Map<string, SetSpec | undefined>;
  /** Map and set elements the changed fragments had or have, before and after. */
  elements: {
    set: string;
    key: string;
    was: ElementSpec | undefined;
    now: ElementSpec | undefined;
  }[];
}

export function sameChain(a: ChainSpec, b: ChainSpec): boolean {
  if (a === b) return true;
  return (
    a.comment === b.comment &&
    JSON.stringify(a.base) === JSON.stringify(b.base) &&
    a.rules.length === b.rules.length &&
    a.rules.every((r, i) => r === b.rules[i])
  );
}

/**
 * Same definition (not elements): a changed definition means delete and re-create. Flags are
 * not compared: `nft -j` reports an affinity set created with `dynamic,timeout` as `timeout`
 * only, and re-creating it would forget every client's affinity.
 */
export function sameSetDefinition(a: SetSpec, b: SetSpec): boolean {
  return a.kind === b.kind && a.type === b.type && a.timeoutSeconds === b.timeoutSeconds;
}

/** Owners (Service port names) of everything in the ruleset, sorted. */
export function owners(rs: Ruleset): string[] {
  const all = new Set<string>();
  for (const c of rs.chains.values()) if (c.owner) all.add(c.owner);
  for (const s of rs.sets.values()) {
    if (s.owner) all.add(s.owner);
    for (const e of s.elements.values()) if (e.owner) all.add(e.owner);
  }
  return [...all].sort();
}

/**
 * Every `jump` or `goto` to a chain the ruleset does not have, in rules and in verdict-map
 * elements, as `chain C: goto X` or `map M: goto X`. `nft -f` refuses such a transaction whole
 * (svclab issue 15 was one in iptables mode); empty when it would load.
 */
export function undeclaredJumps(rs: Ruleset): string[] {
  const out: string[] = [];
  const check = (where: string, text: string | undefined) => {
    for (const [, verb, chain] of (text ?? '').matchAll(/\b(jump|goto) ([^\s,{}]+)/g))
      if (!rs.chains.has(chain!)) out.push(`${where}: ${verb} ${chain}`);
  };
  for (const c of rs.chains.values()) for (const r of c.rules) check(`chain ${c.name}`, r);
  for (const s of rs.sets.values())
    for (const e of s.elements.values()) check(`map ${s.name}`, e.value);
  return out;
}
