import { LabError } from '../../exec/index.js';
import { clearStaleUdpFlows, staleUdpFlows } from '../conntrack.js';
import type { NodeContext, NodeProxy, ProxyOptions, ProxyState, SyncResult } from '../types.js';
import { planHooks } from './hooks.js';
import { planIptables, type IptablesPlan, type SyncStrategy } from './plan.js';
import { parseSave } from './ruleset.js';

/** The iptables binaries of one backend. Explicit names: the host's alternatives may point anywhere. */
export function iptablesCommands(backend: 'nft' | 'legacy'): { restore: string; save: string } {
  return backend === 'legacy'
    ? { restore: 'iptables-legacy-restore', save: 'iptables-legacy-save' }
    : { restore: 'iptables-nft-restore', save: 'iptables-nft-save' };
}

/**
 * kube-proxy's iptables mode on one node. Every sync is one `iptables-restore --noflush`
 * transaction; full syncs also read the kernel's rules (iptables-save) to re-create missing
 * jumps from the built-in chains and to find stale Service chains, like kube-proxy's full syncs.
 * Partial syncs (the default, as in kube-proxy 1.28+) trust the previous plan instead.
 */
export function createIptablesProxy(ctx: NodeContext, options: ProxyOptions): NodeProxy {
  const backend = options.iptablesBackend ?? 'nft';
  const strategy: SyncStrategy = options.syncStrategy ?? 'partial';
  const localhostNodePorts = options.iptablesLocalhostNodePorts ?? true;
  const cmd = iptablesCommands(backend);
  let previous: IptablesPlan | null = null;
  let previousState: ProxyState | null = null;
  let conntrackTCPLiberal = false;
  /** What install() read and ensured, for the first sync after it: nothing ran in between. */
  let installed: Awaited<ReturnType<typeof ensureHooksNow>> | undefined;

  const restore = (input: string) =>
    // --wait: take the xtables lock like kube-proxy, so a concurrent iptables call in the same
    // namespace makes us wait instead of failing (legacy backend; nft ignores it).
    // The deadline grows with the ruleset: a full restore of 10,000+ Services takes minutes on a
    // small machine (that cost is what the talk measured), and must not be cut at the default.
    ctx.exec(cmd.restore, ['--noflush', '--wait'], {
      input,
      timeoutMs: 60_000 + input.length / 10,
    });

  /** Every table the node has (filter and nat at least, once installed), in one process. */
  const save = async (): Promise<string> =>
    (await ctx.exec(cmd.save, [], { timeoutMs: 600_000 })).stdout;

  /** Ensures the jumps from the built-in chains; returns the parsed rules it read and the commands it ran. */
  const ensureHooksNow = async () => {
    // Rules are only needed for the built-in chains (where the jumps live); other chains by name.
    const existing = parseSave(await save(), { rulesOf: (chain) => !chain.startsWith('KUBE-') });
    const hooks = planHooks(existing);
    if (hooks.restoreInput) await restore(hooks.restoreInput);
    return { existing, commands: hooks.restoreInput ? 2 : 1 };
  };
  // The first full sync follows install(), which has just read the tables and written the
  // jumps: it takes that reading instead of a second iptables-save (one process fewer per node
  // on `svclab up`'s critical path). Later full syncs read again, as kube-proxy ensures its
  // jumps on every full sync.
  const ensureHooks = async () => {
    const fresh = installed;
    installed = undefined;
    return fresh ? { existing: fresh.existing, commands: 0 } : ensureHooksNow();
  };

  return {
    mode: 'iptables',

    async install() {
      try {
        // NodePorts on 127.0.0.1 need martian-looking packets to be routed (kube-proxy's
        // --iptables-localhost-nodeports, on by default); the KUBE-FIREWALL rule limits the
        // exposure (kubernetes#90259). net.ipv4.ip_forward is the provider's job.
        // One process for both (a process start is most of what either costs). kube-proxy reads
        // tcp_be_liberal to decide whether to DROP conntrack-INVALID packets; a kernel without
        // the file reads as 0.
        const r = await ctx.exec('sh', [
          '-c',
          `${localhostNodePorts ? 'sysctl -q -w net.ipv4.conf.all.route_localnet=1 && ' : ''}{ cat /proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal 2>/dev/null || echo 0; }`,
        ]);
        const liberal = r.stdout.trim();
        conntrackTCPLiberal = liberal !== '0' && liberal !== '';
        installed = await ensureHooksNow();
      } catch (err) {
        throw new LabError(
          `failed to install iptables proxy (${backend}) on node "${ctx.nodeName}"`,
          { cause: err },
        );
      }
    },

    async sync(state, opts = {}): Promise<SyncResult> {
      const started = performance.now();
      const full = opts.full === true || strategy === 'full' || previous === null;
      let commands = 0;
      let plan: IptablesPlan;
      try {
        let existingNatChains: Iterable<string> | undefined;
        if (full) {
          const hooks = await ensureHooks();
          commands += hooks.commands;
          existingNatChains = hooks.existing.get('nat')?.keys();
        }
        plan = planIptables({
          node: ctx,
          state,
          previous,
          strategy: full ? 'full' : 'partial',
          existingNatChains,
          conntrackTCPLiberal,
          localhostNodePorts,
        });
        await restore(plan.restoreInput);
        commands++;
      } catch (err) {
        // The kernel may hold anything now: the next sync must not trust the previous plan.
        previous = null;
        throw new LabError(`failed to sync iptables rules (${backend}) on node "${ctx.nodeName}"`, {
          cause: err,
        });
      }

      const flows = staleUdpFlows(
        previousState?.servicePorts ?? [],
        state.servicePorts,
        ctx.nodeIP,
      );
      const cleared = await clearStaleUdpFlows(ctx, flows);
      commands += cleared.commands;
      previous = plan;
      previousState = state;

      const c = plan.counts;
      return {
        mode: 'iptables',
        strategy: plan.strategy,
        durationMs: performance.now() - started,
        written: {
          rules: c.filterRules + c.natRules,
          chains: c.filterChains + c.natChains,
          filterRules: c.filterRules,
          natRules: c.natRules,
          filterChains: c.filterChains,
          natChains: c.natChains,
          deletedChains: c.deletedChains,
          servicePortsWritten: c.servicePortsWritten,
          servicePortsSkipped: c.servicePortsSkipped,
          restoreBytes: Buffer.byteLength(plan.restoreInput),
        },
        commands,
        notes: cleared.notes,
      };
    },

    async dump() {
      const sections: Record<string, string> = {};
      sections['iptables-save'] = await save().catch(
        (err: unknown) => `failed to read rules: ${String(err)}`,
      );
      sections['conntrack'] = await ctx
        .readFile('/proc/net/nf_conntrack')
        .catch((err: unknown) => `failed to read /proc/net/nf_conntrack: ${String(err)}`);
      return sections;
    },
  };
}
