import {
  TABLE_LEVEL,
  sameChain,
  sameSetDefinition,
  type ChainSpec,
  type ElementSpec,
  type Ruleset,
  type RulesetDelta,
  type ServicePortFragment,
  type SetSpec,
} from './ruleset.js';

/**
 * Turns "what is there" and "what should be there" into `nft -f` transactions, the way
 * kube-proxy's nftables mode syncs: map and set elements are added and deleted one by one,
 * changed chains are flushed and refilled, and chains that are no longer used are flushed now
 * and deleted in a later transaction (the kernel keeps a chain busy until the transaction that
 * removed the last map element or rule pointing at it has committed; this is EBUSY even on
 * 6.x kernels when both happen in one transaction).
 */

export interface TransactionOptions {
  /** Flush and refill every desired chain even if it looks unchanged (full sync). */
  rewriteAll: boolean;
  /**
   * Service ports per transaction. The kernel's cost of one transaction grows faster than
   * linearly with its size, so a large first load is split; each chunk is self-contained
   * (a Service port's chains, sets and elements always travel together).
   */
  chunkSize: number;
}

export interface TransactionPlan {
  /** `nft -f` scripts, applied in order; empty when nothing changed. */
  transactions: string[];
  /** Chains flushed by these transactions that should be deleted once they have committed. */
  staleChains: string[];
  counts: {
    chainsWritten: number;
    rules: number;
    elementsAdded: number;
    elementsDeleted: number;
    setsAdded: number;
    setsDeleted: number;
    chainsFlushedStale: number;
  };
}

// Order of operations inside one transaction: chains exist before anything jumps to them,
// references are flushed before what they reference is deleted.
const Phase = {
  Table: 0,
  AddChain: 1,
  FlushChain: 2,
  DeleteElement: 3,
  DeleteSet: 4,
  AddSet: 5,
  AddRule: 6,
  AddElement: 7,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];
const PHASES = 8;

/** An owner (Service port); undefined: table-level (first transaction); REMOVAL: last. */
type Group = string | undefined;
const REMOVAL = '\u0000removal';
const ELEMENTS_PER_LINE = 1000;

/**
 * One transaction's operations, bucketed by phase as they are planned (no sort afterwards: at
 * 50,000 Services a full sync writes ~500,000 lines). Element operations are kept per set so
 * one `add element` line carries many elements.
 */
class Chunk {
  /** Lines of the phases below that are not chain writes, flushes or elements. */
  readonly lines: string[][] = Array.from({ length: PHASES }, () => []);
  /** Chains written (defined, then filled with their rules), in planning order. */
  readonly chains: ChainSpec[] = [];
  /** Chains flushed: rewritten ones and stale ones. */
  readonly flushes: string[] = [];
  readonly deleteElements = new Map<string, string[]>();
  readonly addElements = new Map<string, string[]>();
  owners = 0;
}

/**
 * Assigns operations to transactions: table-level ones to the first, removals to the last,
 * each owner's to the chunk that was open when the owner was first seen. Owners arrive in name
 * order (the planner's), so chunks hold consecutive Service ports.
 */
class TransactionBuilder {
  private readonly chunks: Chunk[] = [new Chunk()];
  private readonly removal = new Chunk();
  private readonly chunkOf = new Map<string, Chunk>();

  constructor(private readonly chunkSize: number) {}

  private chunk(group: Group): Chunk {
    if (group === undefined) return this.chunks[0]!;
    if (group === REMOVAL) return this.removal;
    let c = this.chunkOf.get(group);
    if (!c) {
      c = this.chunks[this.chunks.length - 1]!;
      if (c.owners >= this.chunkSize) this.chunks.push((c = new Chunk()));
      c.owners++;
      this.chunkOf.set(group, c);
    }
    return c;
  }

  line(group: Group, phase: Phase, text: string): void {
    this.chunk(group).lines[phase]!.push(text);
  }

  /** Writes a chain: its definition, a flush when it exists already, and its rules. */
  writeChain(c: ChainSpec, flush: boolean): void {
    const chunk = this.chunk(c.owner);
    chunk.chains.push(c);
    if (flush) chunk.flushes.push(c.name);
  }

  flushChain(group: Group, name: string): void {
    this.chunk(group).flushes.push(name);
  }

  element(group: Group, verb: 'add' | 'delete', set: string, item: string): void {
    const c = this.chunk(group);
    const bySet = verb === 'add' ? c.addElements : c.deleteElements;
    const items = bySet.get(set);
    if (items) items.push(item);
    else bySet.set(set, [item]);
  }

  render(rs: Ruleset): string[] {
    const setOrder = new Map([...rs.sets.keys()].map((name, i) => [name, i]));
    // Removals go last, with the last chunk of additions (one transaction less).
    const last = this.chunks[this.chunks.length - 1]!;
    return this.chunks
      .map((c) => render(c === last ? [c, this.removal] : [c], rs, setOrder))
      .filter((text) => text !== '');
  }
}

export function quote(s: string): string {
  return `"${s.replaceAll('"', '\\"')}"`;
}

export function tableRef(rs: Pick<Ruleset, 'family' | 'table'>): string {
  return `${rs.family} ${rs.table}`;
}

export function chainDefinition(rs: Ruleset, c: ChainSpec): string {
  if (!c.base && !c.comment) return `add chain ${tableRef(rs)} ${c.name}`;
  const parts: string[] = [];
  if (c.base) parts.push(`type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority} ;`);
  if (c.comment) parts.push(`comment ${quote(c.comment)} ;`);
  return `add chain ${tableRef(rs)} ${c.name} { ${parts.join(' ')} }`;
}

export function setDefinition(rs: Ruleset, s: SetSpec): string {
  const parts = [`type ${s.type} ;`];
  if (s.flags?.length) parts.push(`flags ${s.flags.join(',')} ;`);
  if (s.timeoutSeconds !== undefined) parts.push(`timeout ${s.timeoutSeconds}s ;`);
  if (s.comment) parts.push(`comment ${quote(s.comment)} ;`);
  return `add ${s.kind} ${tableRef(rs)} ${s.name} { ${parts.join(' ')} }`;
}

function elementItem(key: string, el: ElementSpec): string {
  const comment = el.comment ? ` comment ${quote(el.comment)}` : '';
  const value = el.value !== undefined ? ` : ${el.value}` : '';
  return `${key}${comment}${value}`;
}

/** Chains in `rs` with a rule that names set `set` (`@set`). */
function chainsReferencing(rs: Ruleset, set: string): ChainSpec[] {
  const ref = new RegExp(`@${set.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(\\s|$)`);
  return [...rs.chains.values()].filter((c) => c.rules.some((r) => ref.test(r)));
}

/** A ruleset's objects grouped by owner, for rulesets listed from the kernel (no fragments). */
function fragmentsOf(rs: Ruleset): Map<string, ServicePortFragment> {
  if (rs.fragments) return rs.fragments;
  const out = new Map<string, ServicePortFragment>();
  const of = (owner: string | undefined) => {
    const key = owner ?? TABLE_LEVEL;
    let f = out.get(key);
    if (!f) out.set(key, (f = { owner: key, chains: [], sets: [], elements: [] }));
    return f;
  };
  for (const c of rs.chains.values()) of(c.owner).chains.push(c);
  for (const s of rs.sets.values()) {
    of(s.owner).sets.push(s);
    for (const [key, element] of s.elements)
      of(element.owner).elements.push({ set: s.name, key, element });
  }
  return out;
}

/**
 * The operations one diff writes, and their counts: shared by the full comparison and the
 * delta path so that both write a change the same way.
 */
class Diff {
  readonly tx: TransactionBuilder;
  readonly t: string;
  readonly counts: TransactionPlan['counts'] = {
    chainsWritten: 0,
    rules: 0,
    elementsAdded: 0,
    elementsDeleted: 0,
    setsAdded: 0,
    setsDeleted: 0,
    chainsFlushedStale: 0,
  };
  readonly staleChains: string[] = [];
  /** Sets deleted and created again in this transaction: their old elements are gone. */
  readonly recreated = new Set<string>();

  constructor(
    private readonly next: Ruleset,
    chunkSize: number,
  ) {
    this.tx = new TransactionBuilder(Math.max(1, chunkSize));
    this.t = tableRef(next);
  }

  /** A desired set and what the table holds under its name; true if it must be re-created. */
  set(s: SetSpec, old: SetSpec | undefined): boolean {
    const same = old !== undefined && sameSetDefinition(old, s);
    if (old && !same) {
      this.tx.line(s.owner, Phase.DeleteSet, `delete ${old.kind} ${this.t} ${s.name}`);
      this.counts.setsDeleted++;
      this.recreated.add(s.name);
    }
    if (!same) {
      this.tx.line(s.owner, Phase.AddSet, setDefinition(this.next, s));
      this.counts.setsAdded++;
    }
    return old !== undefined && !same;
  }

  chain(c: ChainSpec, old: ChainSpec | undefined): void {
    this.tx.writeChain(c, old !== undefined);
    this.counts.chainsWritten++;
    this.counts.rules += c.rules.length;
  }

  /** An old chain no longer wanted: flushed now, deleted once this transaction committed. */
  staleChain(name: string): void {
    this.tx.flushChain(REMOVAL, name);
    this.staleChains.push(name);
    this.counts.chainsFlushedStale++;
  }

  staleSet(old: SetSpec): void {
    this.tx.line(REMOVAL, Phase.DeleteSet, `delete ${old.kind} ${this.t} ${old.name}`);
    this.counts.setsDeleted++;
  }

  /** One element of a set both rulesets have, before and after. */
  element(set: string, key: string, was: ElementSpec | undefined, now: ElementSpec | undefined) {
    if (this.recreated.has(set)) was = undefined;
    if (now === undefined) {
      if (was === undefined) return;
      this.tx.element(REMOVAL, 'delete', set, key);
      this.counts.elementsDeleted++;
      return;
    }
    if (was && was.value === now.value && was.comment === now.comment) return;
    if (was) {
      this.tx.element(now.owner, 'delete', set, key);
      this.counts.elementsDeleted++;
    }
    this.tx.element(now.owner, 'add', set, elementItem(key, now));
    this.counts.elementsAdded++;
  }

  result(): TransactionPlan {
    return {
      transactions: this.tx.render(this.next),
      staleChains: this.staleChains,
      counts: this.counts,
    };
  }
}

/**
 * `prev` is what the table holds now (the last applied plan, or what the kernel listed; an
 * empty table `undefined`); `next` is the plan. `prev` chains listed from the kernel carry no
 * rules, so callers pass `rewriteAll` for them.
 *
 * The diff walks Service ports (fragments), not every object: when both rulesets were planned
 * and `rewriteAll` is off, a fragment that is the very same object in both cannot have changed
 * and is skipped, so a one-Service change at 50,000 Services costs a few Map lookups per
 * Service instead of comparing 150,000 chains. Without that, every fragment is compared by
 * content, which gives the same result.
 */
export function planTransactions(
  prev: Ruleset | undefined,
  next: Ruleset,
  opts: TransactionOptions,
): TransactionPlan {
  if (prev && next.delta?.base === prev && !opts.rewriteAll)
    return planFromDelta(next, next.delta, opts);
  if (prev?.superseded)
    throw new Error(
      'planner bug: diffing against a superseded plan (its maps show a later state); sync in full instead',
    );
  const diff = new Diff(next, opts.chunkSize);
  if (!prev)
    diff.tx.line(
      undefined,
      Phase.Table,
      `add table ${diff.t} { comment ${quote(next.comment)} ; }`,
    );

  const nextFragments = fragmentsOf(next);
  const prevFragments = prev ? fragmentsOf(prev) : new Map<string, ServicePortFragment>();
  const skipSame =
    !opts.rewriteAll && prev?.fragments !== undefined && next.fragments !== undefined;
  const changed: ServicePortFragment[] = [];
  for (const [key, f] of nextFragments)
    if (!skipSame || prevFragments.get(key) !== f) changed.push(f);
  const gone: ServicePortFragment[] = [];
  for (const [key, f] of prevFragments) {
    const now = nextFragments.get(key);
    // A fragment planned anew may have dropped objects its predecessor had.
    if (now === undefined || (now !== f && prev?.fragments)) gone.push(f);
  }
  // Kernel listings attribute objects by their names only; walk all of them for removals.
  const prevScope = prev && !prev.fragments ? [...prevFragments.values()] : gone;

  // Sets and maps whose definition changed are re-created; chains naming them must be
  // flushed first, so they are rewritten too.
  const forceRewrite = new Set<string>();
  for (const f of changed)
    for (const s of f.sets)
      if (diff.set(s, prev?.sets.get(s.name)))
        for (const c of chainsReferencing(next, s.name)) forceRewrite.add(c.name);

  const written = new Set<string>();
  const seen = new Set<string>();
  const element = (set: string, key: string) => {
    const s = next.sets.get(set);
    // A set that is gone takes its elements with it.
    if (s) diff.element(set, key, prev?.sets.get(set)?.elements.get(key), s.elements.get(key));
  };
  for (const f of changed) {
    for (const c of f.chains) {
      const old = prev?.chains.get(c.name);
      if (old && !opts.rewriteAll && !forceRewrite.has(c.name) && sameChain(old, c)) continue;
      written.add(c.name);
      diff.chain(c, old);
    }
    for (const { set, key, element: el } of f.elements) {
      // A key several ports share (a ClusterIP in cluster-ips) belongs to its first owner.
      if (next.sets.get(set)?.elements.get(key) !== el) continue;
      if (prevScope.length > 0) seen.add(`${set}\u0000${key}`);
      element(set, key);
    }
  }
  // A chain outside the diffed fragments that names a re-created set (a table-level set).
  for (const name of forceRewrite) {
    const c = next.chains.get(name);
    if (c && !written.has(name)) diff.chain(c, prev?.chains.get(name));
  }

  for (const f of prevScope) {
    for (const old of f.chains) if (!next.chains.has(old.name)) diff.staleChain(old.name);
    for (const old of f.sets) if (!next.sets.has(old.name)) diff.staleSet(old);
    for (const { set, key } of f.elements) {
      const id = `${set}\u0000${key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      element(set, key);
    }
  }
  return diff.result();
}

/**
 * The transactions for a plan the planner derived from `prev` by updating it in place: the
 * delta says what every touched chain, set and element was before, so nothing else is looked
 * at. Same operations as the full comparison, in O(size of the change).
 */
function planFromDelta(
  next: Ruleset,
  delta: RulesetDelta,
  opts: TransactionOptions,
): TransactionPlan {
  const diff = new Diff(next, opts.chunkSize);
  const added = delta.fragments.flatMap((f) => (f.next ? [f.next] : []));
  const removed = delta.fragments.flatMap((f) => (f.prev ? [f.prev] : []));

  const forceRewrite = new Set<string>();
  for (const f of added) {
    for (const s of f.sets) {
      if (!diff.set(s, delta.sets.get(s.name))) continue;
      // Sets belong to one Service port: only its own chains name them.
      const ref = `@${s.name}`;
      for (const c of f.chains) if (c.rules.some((r) => r.includes(ref))) forceRewrite.add(c.name);
    }
  }
  for (const f of added) {
    for (const c of f.chains) {
      const old = delta.chains.get(c.name);
      if (old && !forceRewrite.has(c.name) && sameChain(old, c)) continue;
      diff.chain(c, old);
    }
  }
  for (const f of removed) {
    for (const old of f.chains) if (!next.chains.has(old.name)) diff.staleChain(old.name);
    for (const old of f.sets) if (!next.sets.has(old.name)) diff.staleSet(old);
  }
  // A set that is gone takes its elements with it.
  for (const e of delta.elements)
    if (next.sets.has(e.set)) diff.element(e.set, e.key, e.was, e.now);
  return diff.result();
}

/**
 * One transaction: phase by phase, each owner's lines in the order they were planned; element
 * operations merged per set (sets in the ruleset's order, elements in planning order).
 */
function render(parts: Chunk[], rs: Ruleset, setOrder: Map<string, number>): string {
  // Pieces joined once at the end: a full sync writes ~500,000 lines, and building each line
  // as a string of its own first doubles the garbage.
  const out: string[] = [];
  const t = tableRef(rs);
  const elements = (verb: 'add' | 'delete') => {
    const bySet = new Map<string, string[][]>();
    for (const c of parts)
      for (const [set, items] of verb === 'add' ? c.addElements : c.deleteElements)
        bySet.set(set, [...(bySet.get(set) ?? []), items]);
    const sets = [...bySet.keys()].sort(
      (a, b) => (setOrder.get(a) ?? Infinity) - (setOrder.get(b) ?? Infinity),
    );
    for (const set of sets) {
      for (const items of bySet.get(set)!) {
        for (let i = 0; i < items.length; i += ELEMENTS_PER_LINE)
          out.push(
            `${verb} element ${t} ${set} { `,
            items.slice(i, i + ELEMENTS_PER_LINE).join(', '),
            ' }\n',
          );
      }
    }
  };
  const addRule = `add rule ${t} `;
  const addChain = `add chain ${t} `;
  const flushChain = `flush chain ${t} `;
  for (let phase = 0 as Phase; phase < PHASES; phase++) {
    for (const c of parts) for (const l of c.lines[phase]!) out.push(l, '\n');
    if (phase === Phase.AddChain) {
      for (const c of parts)
        for (const chain of c.chains)
          if (chain.base || chain.comment) out.push(chainDefinition(rs, chain), '\n');
          else out.push(addChain, chain.name, '\n');
    } else if (phase === Phase.FlushChain) {
      for (const c of parts) for (const name of c.flushes) out.push(flushChain, name, '\n');
    } else if (phase === Phase.DeleteElement) elements('delete');
    else if (phase === Phase.AddElement) elements('add');
    else if (phase === Phase.AddRule) {
      for (const c of parts)
        for (const chain of c.chains)
          for (const r of chain.rules) out.push(addRule, chain.name, ' ', r, '\n');
    }
  }
  return out.join('');
}

/** The `nft -f` script deleting chains that earlier transactions flushed. */
export function deleteChainsScript(
  rs: Pick<Ruleset, 'family' | 'table'>,
  chains: readonly string[],
): string {
  return chains.map((c) => `delete chain ${tableRef(rs)} ${c}`).join('\n') + '\n';
}
