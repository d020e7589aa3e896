import { JUMP_HOOKS, hookArgs, type JumpHook } from './chains.js';
import { normalizeRule, type Ruleset } from './ruleset.js';

export interface HooksPlan {
  /** Hooks the kernel lacks, in the order they are inserted. */
  missing: JumpHook[];
  /** iptables-restore --noflush input that adds them, or null when nothing is missing. */
  restoreInput: string | null;
}

/**
 * What kube-proxy's EnsureChain + EnsureRule(Prepend) loop does on every full sync, as one
 * transaction: create the target chains that do not exist (declaring an existing chain in a
 * --noflush restore would flush it, so only missing ones are declared) and insert the missing
 * jumps at position 1. Done outside the main restore because the built-in chains are not ours
 * to flush. `existing` is the parsed `iptables-save` of the node.
 */
export function planHooks(existing: Ruleset): HooksPlan {
  const missing = JUMP_HOOKS.filter((h) => {
    const rules = existing.get(h.table)?.get(h.from) ?? [];
    const want = normalizeRule(hookArgs(h));
    return !rules.some((r) => normalizeRule(r) === want);
  });
  if (missing.length === 0) return { missing, restoreInput: null };
  const lines: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const hooks = missing.filter((h) => h.table === table);
    if (hooks.length === 0) continue;
    lines.push(`*${table}`);
    const declared = new Set<string>();
    for (const h of hooks) {
      if (!existing.get(table)?.has(h.to) && !declared.has(h.to)) {
        lines.push(`:${h.to} - [0:0]`);
        declared.add(h.to);
      }
    }
    for (const h of hooks) lines.push(`-I ${h.from} 1 ${hookArgs(h)}`);
    lines.push('COMMIT');
  }
  return { missing, restoreInput: lines.join('\n') + '\n' };
}
