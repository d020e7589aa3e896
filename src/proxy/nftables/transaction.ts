import {
  sameChain,
  sameSetDefinition,
  type ChainSpec,
  type ElementSpec,
  type Ruleset,
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

interface Op {
  phase: Phase;
  /** undefined: table-level (first transaction); REMOVAL: pure removals (last transaction). */
  group: string | undefined;
  line: string;
  /** For element batching: `add element` / `delete element` lines on one set are merged. */
  batch?: { verb: 'add' | 'delete'; set: SetSpec; item: string } | undefined;
}

const REMOVAL = '\u0000removal';
const ELEMENTS_PER_LINE = 1000;

export function quote(s: string): string {
  return `"${s.replaceAll('"', '\\"')}"`;
}

export function tableRef(rs: Pick<Ruleset, 'family' | 'table'>): string {
  return `${rs.family} ${rs.table}`;
}

export function chainDefinition(rs: Ruleset, c: ChainSpec): string {
  const parts: string[] = [];
  if (c.base) parts.push(`type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority} ;`);
  if (c.comment) parts.push(`comment ${quote(c.comment)} ;`);
  return `add chain ${tableRef(rs)} ${c.name}${parts.length ? ` { ${parts.join(' ')} }` : ''}`;
}

export function setDefinition(rs: Ruleset, s: SetSpec): string {
  const parts = [`type ${s.type} ;`];
  if (s.flags?.length) parts.push(`flags ${s.flags.join(',')} ;`);
  if (s.timeoutSeconds !== undefined) parts.push(`timeout ${s.timeoutSeconds}s ;`);
  if (s.comment) parts.push(`comment ${quote(s.comment)} ;`);
  return `add ${s.kind} ${tableRef(rs)} ${s.name} { ${parts.join(' ')} }`;
}

function elementItem(key: string, el: ElementSpec | undefined): string {
  const comment = el?.comment ? ` comment ${quote(el.comment)}` : '';
  const value = el?.value !== undefined ? ` : ${el.value}` : '';
  return `${key}${comment}${value}`;
}

/** Chains in `rs` with a rule that names set `set` (`@set`). */
function chainsReferencing(rs: Ruleset, set: string): ChainSpec[] {
  const ref = new RegExp(`@${set.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(\\s|$)`);
  return [...rs.chains.values()].filter((c) => c.rules.some((r) => ref.test(r)));
}

/**
 * `prev` is what the table holds now (the last applied plan, or what the kernel listed; an
 * empty table `undefined`); `next` is the plan. `prev` chains listed from the kernel carry no
 * rules, so callers pass `rewriteAll` for them.
 */
export function planTransactions(
  prev: Ruleset | undefined,
  next: Ruleset,
  opts: TransactionOptions,
): TransactionPlan {
  const ops: Op[] = [];
  const t = tableRef(next);
  const counts: TransactionPlan['counts'] = {
    chainsWritten: 0,
    rules: 0,
    elementsAdded: 0,
    elementsDeleted: 0,
    setsAdded: 0,
    setsDeleted: 0,
    chainsFlushedStale: 0,
  };

  if (!prev)
    ops.push({
      phase: Phase.Table,
      group: undefined,
      line: `add table ${t} { comment ${quote(next.comment)} ; }`,
    });

  // Sets and maps whose definition changed are re-created; chains naming them must be
  // flushed first, so they are rewritten too.
  const forceRewrite = new Set<string>();
  for (const s of next.sets.values()) {
    const old = prev?.sets.get(s.name);
    if (old && !sameSetDefinition(old, s)) {
      ops.push({
        phase: Phase.DeleteSet,
        group: s.owner,
        line: `delete ${old.kind} ${t} ${s.name}`,
      });
      counts.setsDeleted++;
      for (const c of chainsReferencing(next, s.name)) forceRewrite.add(c.name);
    }
    if (!old || !sameSetDefinition(old, s)) {
      ops.push({ phase: Phase.AddSet, group: s.owner, line: setDefinition(next, s) });
      counts.setsAdded++;
    }
  }

  for (const c of next.chains.values()) {
    const old = prev?.chains.get(c.name);
    if (old && !opts.rewriteAll && !forceRewrite.has(c.name) && sameChain(old, c)) continue;
    ops.push({ phase: Phase.AddChain, group: c.owner, line: chainDefinition(next, c) });
    if (old)
      ops.push({ phase: Phase.FlushChain, group: c.owner, line: `flush chain ${t} ${c.name}` });
    for (const r of c.rules)
      ops.push({ phase: Phase.AddRule, group: c.owner, line: `add rule ${t} ${c.name} ${r}` });
    counts.chainsWritten++;
    counts.rules += c.rules.length;
  }

  const staleChains: string[] = [];
  for (const old of prev?.chains.values() ?? []) {
    if (next.chains.has(old.name)) continue;
    ops.push({ phase: Phase.FlushChain, group: REMOVAL, line: `flush chain ${t} ${old.name}` });
    staleChains.push(old.name);
    counts.chainsFlushedStale++;
  }
  for (const old of prev?.sets.values() ?? []) {
    if (next.sets.has(old.name)) continue;
    ops.push({
      phase: Phase.DeleteSet,
      group: REMOVAL,
      line: `delete ${old.kind} ${t} ${old.name}`,
    });
    counts.setsDeleted++;
  }

  for (const s of next.sets.values()) {
    const old = prev?.sets.get(s.name);
    const recreated = old !== undefined && !sameSetDefinition(old, s);
    for (const [key, el] of s.elements) {
      const was = recreated ? undefined : old?.elements.get(key);
      if (was && was.value === el.value && was.comment === el.comment) continue;
      const group = el.owner;
      if (was) {
        ops.push({
          phase: Phase.DeleteElement,
          group,
          line: '',
          batch: { verb: 'delete', set: s, item: key },
        });
        counts.elementsDeleted++;
      }
      ops.push({
        phase: Phase.AddElement,
        group,
        line: '',
        batch: { verb: 'add', set: s, item: elementItem(key, el) },
      });
      counts.elementsAdded++;
    }
    if (!old || recreated) continue;
    for (const key of old.elements.keys()) {
      if (s.elements.has(key)) continue;
      ops.push({
        phase: Phase.DeleteElement,
        group: REMOVAL,
        line: '',
        batch: { verb: 'delete', set: s, item: key },
      });
      counts.elementsDeleted++;
    }
  }

  return { transactions: toTransactions(ops, next, opts.chunkSize), staleChains, counts };
}

/** Groups operations into transactions: table-level first, then chunks of owners, then removals. */
function toTransactions(ops: Op[], rs: Ruleset, chunkSize: number): string[] {
  if (ops.length === 0) return [];
  const byGroup = new Map<string | undefined, Op[]>();
  for (const op of ops) {
    const list = byGroup.get(op.group) ?? [];
    list.push(op);
    byGroup.set(op.group, list);
  }
  const owners = [...byGroup.keys()]
    .filter((g): g is string => g !== undefined && g !== REMOVAL)
    .sort();
  const chunks: Op[][] = [];
  for (let i = 0; i < owners.length; i += Math.max(1, chunkSize)) {
    chunks.push(owners.slice(i, i + Math.max(1, chunkSize)).flatMap((o) => byGroup.get(o) ?? []));
  }
  if (chunks.length === 0) chunks.push([]);
  chunks[0] = [...(byGroup.get(undefined) ?? []), ...chunks[0]!];
  // A loop, not push(...ops): removing tens of thousands of Services would overflow the stack.
  const last = chunks[chunks.length - 1]!;
  for (const op of byGroup.get(REMOVAL) ?? []) last.push(op);
  return chunks.filter((c) => c.length > 0).map((c) => render(c, rs));
}

function render(ops: Op[], rs: Ruleset): string {
  const lines: string[] = [];
  const sorted = ops
    .map((op, i) => ({ op, i }))
    .sort((a, b) => a.op.phase - b.op.phase || a.i - b.i);
  let pending: { verb: string; set: SetSpec; items: string[] } | undefined;
  const flush = () => {
    if (!pending) return;
    for (let i = 0; i < pending.items.length; i += ELEMENTS_PER_LINE) {
      const items = pending.items.slice(i, i + ELEMENTS_PER_LINE).join(', ');
      lines.push(`${pending.verb} element ${tableRef(rs)} ${pending.set.name} { ${items} }`);
    }
    pending = undefined;
  };
  for (const { op } of sorted) {
    if (op.batch) {
      if (!pending || pending.verb !== op.batch.verb || pending.set !== op.batch.set) {
        flush();
        pending = { verb: op.batch.verb, set: op.batch.set, items: [] };
      }
      pending.items.push(op.batch.item);
      continue;
    }
    flush();
    lines.push(op.line);
  }
  flush();
  return lines.join('\n') + '\n';
}

/** The `nft -f` script deleting chains that earlier transactions flushed. */
export function deleteChainsScript(
  rs: Pick<Ruleset, 'family' | 'table'>,
  chains: readonly string[],
): string {
  return chains.map((c) => `delete chain ${tableRef(rs)} ${c}`).join('\n') + '\n';
}
