import { clearStaleUdpFlows, staleUdpFlows } from '../conntrack.js';
import type {
  NodeContext,
  NodeProxy,
  ProxyOptions,
  ProxyState,
  ServicePortState,
  SyncResult,
} from '../types.js';
import { NftablesApplier, type ApplierOptions } from './apply.js';
import { TABLE_FAMILY, TABLE_NAME } from './names.js';
import { NftablesPlanner, type NftablesPlanConfig } from './plan.js';

export { NftablesPlanner, planRuleset, type NftablesPlanConfig } from './plan.js';
export {
  NftablesApplier,
  DEFAULT_CHUNK_SIZE,
  type ApplierOptions,
  type ApplyResult,
} from './apply.js';
export type { Ruleset, ChainSpec, SetSpec, ElementSpec } from './ruleset.js';

/** Knobs beyond ProxyOptions, for benchmarks and tests. */
export interface NftablesProxyTuning extends ApplierOptions {
  nodePortAddresses?: NftablesPlanConfig['nodePortAddresses'];
  endpointSelection?: NftablesPlanConfig['endpointSelection'];
}

/**
 * kube-proxy's nftables mode on one node: `table ip kube-proxy`, synced incrementally (only
 * changed Service ports' chains and map elements), with stale UDP conntrack entries deleted
 * after each sync.
 */
export function createNftablesProxy(
  ctx: NodeContext,
  _options: ProxyOptions,
  tuning: NftablesProxyTuning = {},
): NodeProxy {
  const cfg: NftablesPlanConfig = {
    nodeName: ctx.nodeName,
    nodeIP: ctx.nodeIP,
    zone: ctx.zone,
    clusterCIDR: ctx.clusterCIDR,
    serviceCIDR: ctx.serviceCIDR,
    nodePortAddresses: tuning.nodePortAddresses,
    endpointSelection: tuning.endpointSelection,
  };
  const planner = new NftablesPlanner(cfg);
  const applier = new NftablesApplier(ctx, tuning);
  let lastServicePorts: ServicePortState[] = [];

  return {
    mode: 'nftables',

    async install() {
      // The table skeleton (base chains, dispatch maps, masquerading) without any Service,
      // so the node behaves like one whose kube-proxy has started but not synced yet.
      await applier.apply(planner.plan({ servicePorts: [] }), { full: true });
      // kube-proxy's first sync is a full one (needFullSync starts true).
      applier.invalidate();
    },

    async sync(state: ProxyState, opts?: { full?: boolean }): Promise<SyncResult> {
      const started = performance.now();
      const result = await applier.apply(planner.plan(state), { full: opts?.full });
      const flows = staleUdpFlows(lastServicePorts, state.servicePorts, ctx.nodeIP);
      const conntrack = await clearStaleUdpFlows(ctx, flows);
      lastServicePorts = state.servicePorts;
      const { transactions, ...written } = result.counts;
      return {
        mode: 'nftables',
        strategy: result.strategy,
        durationMs: performance.now() - started,
        written: { ...written, transactions, staleUdpFlows: flows.length },
        commands: result.commands + conntrack.commands,
        notes: [...result.notes, ...conntrack.notes],
      };
    },

    async dump() {
      const nft = await ctx.exec('nft', ['list', 'table', TABLE_FAMILY, TABLE_NAME], {
        allowFailure: true,
      });
      let conntrack: string;
      try {
        conntrack = await ctx.readFile('/proc/net/nf_conntrack');
      } catch (err) {
        conntrack = `(unreadable: ${err instanceof Error ? err.message : String(err)})`;
      }
      return { nft: nft.ok ? nft.stdout : `(nft failed: ${nft.stderr.trim()})`, conntrack };
    },
  };
}
