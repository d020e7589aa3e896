import { LabError } from '../../exec/index.js';
import type { NodeContext } from '../types.js';
import { TABLE_FAMILY, TABLE_NAME, isAffinitySetName } from './names.js';
import { parseJsonListing } from './listing.js';
import type { Ruleset } from './ruleset.js';
import { deleteChainsScript, planTransactions, type TransactionPlan } from './transaction.js';

/**
 * Service ports per `nft -f` transaction when a sync writes many. Measured on kernel 6.18 with
 * nft 1.0.6 (20,000 ClusterIP Services, 2 endpoints each, loaded machine): the kernel's cost of
 * a transaction grows with its own size and with the size of the table it lands in (chunks of
 * 2,000: 1.2 s for the first, 8.8 s for the tenth), so one 20k transaction takes minutes while
 * 2,000-port chunks load it in ~45 s; 1,000 is no faster (each extra `nft` start re-reads the
 * table) and 5,000 is slower (~49 s).
 */
export const DEFAULT_CHUNK_SIZE = 2000;

export interface ApplierOptions {
  chunkSize?: number | undefined;
  /** Deadline for one `nft` transaction. */
  timeoutMs?: number | undefined;
}

export interface ApplyResult {
  strategy: 'full' | 'incremental';
  counts: TransactionPlan['counts'] & { transactions: number; chainsDeleted: number };
  /** `nft` processes run. */
  commands: number;
  notes: string[];
}

/**
 * Keeps one node's `table ip kube-proxy` equal to a planned Ruleset. Remembers what it applied
 * last so later syncs only touch what changed; a full sync (the first one, or when asked, or
 * after a failed transaction) starts from what the kernel lists instead.
 */
export class NftablesApplier {
  private applied: Ruleset | undefined;
  /** Chains flushed by an earlier sync whose deletion has not succeeded yet. */
  private readonly staleChains = new Set<string>();
  private readonly chunkSize: number;
  private readonly timeoutMs: number;
  /** `nft` processes the last readKernel ran. */
  private kernelReads = 0;

  constructor(
    private readonly ctx: NodeContext,
    opts: ApplierOptions = {},
  ) {
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.timeoutMs = opts.timeoutMs ?? 600_000;
  }

  /**
   * What the kernel holds now (objects and elements, no rule text), or undefined without the
   * table. Not `nft -j list table`: that also dumps every rule's anonymous vmap and takes
   * seconds at a few thousand Services; names, terse definitions and the few dispatch maps'
   * elements take a fraction of that.
   */
  async readKernel(): Promise<Ruleset | undefined> {
    const list = async (args: string[]) => {
      const r = await this.ctx.exec('nft', ['-j', ...args], {
        allowFailure: true,
        timeoutMs: this.timeoutMs,
      });
      if (!r.ok) {
        throw new LabError(
          `failed to list nftables ${args.join(' ')} on node ${this.ctx.nodeName}`,
          {
            cause: new Error(r.stderr.trim()),
          },
        );
      }
      return r.stdout;
    };
    const docs = [await list(['list', 'tables', TABLE_FAMILY])];
    this.kernelReads = 1;
    if (!parseJsonListing(docs, TABLE_FAMILY, TABLE_NAME)) return undefined;
    docs.push(await list(['list', 'chains', TABLE_FAMILY]));
    docs.push(await list(['-t', 'list', 'sets', TABLE_FAMILY]));
    docs.push(await list(['-t', 'list', 'maps', TABLE_FAMILY]));
    const defs = parseJsonListing(docs, TABLE_FAMILY, TABLE_NAME);
    for (const s of defs?.sets.values() ?? []) {
      if (isAffinitySetName(s.name)) continue;
      docs.push(await list(['list', s.kind, TABLE_FAMILY, TABLE_NAME, s.name]));
    }
    this.kernelReads = docs.length;
    return parseJsonListing(docs, TABLE_FAMILY, TABLE_NAME);
  }

  /** Forget what was applied: the next apply is a full sync from what the kernel lists. */
  invalidate(): void {
    this.applied = undefined;
  }

  async apply(next: Ruleset, opts: { full?: boolean | undefined } = {}): Promise<ApplyResult> {
    let commands = 0;
    const notes: string[] = [];
    // A plan derived from another than the applied one (planned without being applied) cannot
    // be diffed against it once the planner updated its maps: start from the kernel then.
    const full =
      opts.full === true ||
      this.applied === undefined ||
      (this.applied.superseded === true && next.delta?.base !== this.applied);
    let prev = this.applied;
    if (full) {
      prev = await this.readKernel();
      commands += this.kernelReads;
      // Everything in the table the plan does not want is stale, including service chains a
      // crashed or older run left behind.
    }
    const plan = planTransactions(prev, next, { rewriteAll: full, chunkSize: this.chunkSize });

    this.applied = undefined; // unknown until every transaction has committed
    for (const [i, script] of plan.transactions.entries()) {
      commands++;
      try {
        await this.ctx.exec('nft', ['-f', '-'], { input: script, timeoutMs: this.timeoutMs });
      } catch (err) {
        throw new LabError(
          `failed to apply nftables transaction ${i + 1}/${plan.transactions.length} on node ${this.ctx.nodeName}`,
          { cause: err },
        );
      }
    }
    this.applied = next;

    for (const c of plan.staleChains) this.staleChains.add(c);
    for (const c of this.staleChains) if (next.chains.has(c)) this.staleChains.delete(c);
    let chainsDeleted = 0;
    if (this.staleChains.size > 0) {
      // A separate transaction: the one that removed the last reference has committed now.
      const chains = [...this.staleChains];
      commands++;
      const r = await this.ctx.exec('nft', ['-f', '-'], {
        input: deleteChainsScript(next, chains),
        allowFailure: true,
        timeoutMs: this.timeoutMs,
      });
      if (r.ok) {
        chainsDeleted = chains.length;
        this.staleChains.clear();
      } else {
        notes.push(
          `${chains.length} stale nftables chains were flushed but not deleted yet (retried next sync): ` +
            `${r.stderr.trim().split('\n')[0] ?? ''}`,
        );
      }
    }

    return {
      strategy: full ? 'full' : 'incremental',
      counts: { ...plan.counts, transactions: plan.transactions.length, chainsDeleted },
      commands,
      notes,
    };
  }
}
