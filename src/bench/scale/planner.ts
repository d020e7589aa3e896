import { planIptables, type IptablesPlan } from '../../proxy/iptables/index.js';
import { IpvsPlanner, diffIpvs, diffIpvsChanges, emptyApplied } from '../../proxy/ipvs/index.js';
import { NftablesPlanner } from '../../proxy/nftables/index.js';
import { planTransactions } from '../../proxy/nftables/transaction.js';
import type { NodeContext, ProxyState } from '../../proxy/types.js';
import type { SvclabScaleMode } from './modes.js';

/** Pure planning cost of one mode at one N (no kernel): the part of a sync Node itself pays. */
export interface PlannerTiming {
  /** Planning the whole ruleset from nothing (first sync). */
  fullMs: number;
  /** Planning a sync after one Service changed, with the previous plan at hand. */
  changeMs: number;
}

type NodeInfo = Pick<
  NodeContext,
  'nodeName' | 'nodeIP' | 'podCIDR' | 'clusterCIDR' | 'serviceCIDR'
>;

function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const v = fn();
  return [v, performance.now() - t0];
}

/** Best of `runs` (planning is deterministic; the minimum is the least disturbed by the machine). */
function best<T>(runs: number, fn: () => T): [T, number] {
  let out = time(fn);
  for (let i = 1; i < runs; i++) {
    const r = time(fn);
    if (r[1] < out[1]) out = r;
  }
  return out;
}

export function timePlanner(
  mode: SvclabScaleMode,
  node: NodeInfo,
  base: ProxyState,
  changed: ProxyState,
  runs = 2,
): PlannerTiming {
  switch (mode) {
    case 'iptables-full':
    case 'iptables-partial': {
      const strategy = mode === 'iptables-full' ? 'full' : 'partial';
      const [prev, fullMs] = best(runs, () =>
        planIptables({ node, state: base, previous: null, strategy: 'full' }),
      );
      const [, changeMs] = best(runs, () =>
        planIptables({ node, state: changed, previous: prev as IptablesPlan, strategy }),
      );
      return { fullMs, changeMs };
    }
    case 'nftables':
    case 'nftables-rules': {
      const cfg = {
        nodeName: node.nodeName,
        nodeIP: node.nodeIP,
        clusterCIDR: node.clusterCIDR,
        serviceCIDR: node.serviceCIDR,
        endpointSelection:
          mode === 'nftables' ? ('numgen-vmap' as const) : ('numgen-rules' as const),
      };
      // As the proxy plans: one planner per node, whose memory of the previous plan makes the
      // sync after a change re-plan only the changed Service port.
      const fullMs = best(runs, () => {
        const rs = new NftablesPlanner(cfg).plan(base);
        planTransactions(undefined, rs, { rewriteAll: true, chunkSize: 2000 });
      })[1];
      let changeMs = Infinity;
      for (let i = 0; i < runs; i++) {
        const planner = new NftablesPlanner(cfg);
        const prev = planner.plan(base);
        const [, ms] = time(() =>
          planTransactions(prev, planner.plan(changed), { rewriteAll: false, chunkSize: 2000 }),
        );
        changeMs = Math.min(changeMs, ms);
      }
      return { fullMs, changeMs };
    }
    case 'ipvs': {
      // As the proxy plans: the first sync plans everything and diffs against an empty table;
      // a sync after a change re-plans and diffs only what the planner reports as touched.
      const cfg = {
        nodeName: node.nodeName,
        clusterCIDR: node.clusterCIDR,
        scheduler: 'rr' as const,
      };
      const nodeIPs = [node.nodeIP];
      const fullMs = best(runs, () => {
        const planner = new IpvsPlanner(cfg);
        diffIpvs({ applied: emptyApplied(), desired: planner.plan(base, nodeIPs), full: true });
      })[1];
      let changeMs = Infinity;
      for (let i = 0; i < runs; i++) {
        const planner = new IpvsPlanner(cfg);
        const applied = diffIpvs({
          applied: emptyApplied(),
          desired: planner.plan(base, nodeIPs),
          full: true,
        }).next;
        planner.commit();
        const [, ms] = time(() =>
          diffIpvsChanges({
            applied,
            desired: planner.plan(changed, nodeIPs),
            changes: planner.changes,
          }),
        );
        changeMs = Math.min(changeMs, ms);
      }
      return { fullMs, changeMs };
    }
  }
}
