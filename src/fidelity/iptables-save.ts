import { tokenize } from '../proxy/iptables/ruleset.js';
import { byText, type NormalisedRuleset, type RulesetLine } from './lines.js';

/**
 * `iptables-save` output reduced to what kube-proxy owns, in a canonical order:
 * - counters dropped (chain lines lose `[packets:bytes]`, rules any `-c`/`[p:b]` prefix), and the
 *   `# Generated` / `COMMIT` framing;
 * - only chains named `KUBE-*` and, in the built-in chains, the rules that jump to one (the
 *   host's own rules and policies are not kube-proxy's);
 * - tables in name order, chains in name order (the set of chains is what matters; `iptables-save`
 *   lists them in creation order, which depends on history), rules in their order within a chain
 *   (that order is what the kernel evaluates);
 * - runs of blanks outside quotes as one space (iptables-save prints `--nfacct-name  x`).
 * Both sides are read back from a kernel by the same `iptables-save`, so the rule text itself is
 * already canonical (iptables-save's option order and defaults) and is compared as printed.
 * `family` prefixes IPv6 lines with `ip6 `, so one comparison can hold both families.
 */
export function normaliseIptablesSave(
  save: string,
  family: 'ip' | 'ip6' = 'ip',
): NormalisedRuleset {
  const tables = new Map<string, Map<string, string[]>>();
  let table: Map<string, string[]> | undefined;
  let tableName = '';
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      tableName = line.slice(1);
      table = tables.get(tableName) ?? new Map();
      tables.set(tableName, table);
    } else if (line.startsWith(':')) {
      const chain = line.slice(1).split(/\s+/)[0]!;
      if (!table?.has(chain)) table?.set(chain, []);
    } else {
      const rule = squeeze(line.replace(/^\[\d+:\d+\]\s+/, '').replace(/^-c \d+ \d+ /, ''));
      if (!rule.startsWith('-A ')) continue;
      const chain = rule.slice(3).split(' ')[0]!;
      const rules = table?.get(chain) ?? [];
      rules.push(rule);
      table?.set(chain, rules);
    }
  }

  const prefix = family === 'ip6' ? 'ip6 ' : '';
  const out: RulesetLine[] = [];
  for (const name of [...tables.keys()].sort(byText)) {
    const chains = tables.get(name)!;
    for (const chain of [...chains.keys()].sort(byText)) {
      const ours = chain.startsWith('KUBE-');
      if (ours)
        out.push({
          kind: 'chain',
          text: `${prefix}${name} :${chain}`,
          table: `${prefix}${name}`,
          object: chain,
        });
      for (const rule of chains.get(chain)!) {
        const tokens = tokenize(rule);
        const target = targetOf(tokens);
        // Built-in chains: only kube-proxy's jumps into its own chains.
        if (!ours && !target?.startsWith('KUBE-')) continue;
        out.push({
          kind: 'rule',
          text: `${prefix}${name} ${rule}`,
          table: `${prefix}${name}`,
          object: chain,
          comment: commentOf(tokens),
          target,
        });
      }
    }
  }
  return { source: family === 'ip6' ? 'ip6tables-save' : 'iptables-save', lines: out };
}

/** Collapses runs of blanks outside double quotes. */
function squeeze(line: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      out += c + line[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (!quoted && /\s/.test(c)) {
      if (!out.endsWith(' ')) out += ' ';
      continue;
    }
    out += c;
  }
  return out.trim();
}

function commentOf(tokens: readonly string[]): string | undefined {
  const i = tokens.indexOf('--comment');
  return i >= 0 ? tokens[i + 1] : undefined;
}

function targetOf(tokens: readonly string[]): string | undefined {
  for (let i = tokens.length - 2; i >= 0; i--)
    if (tokens[i] === '-j' || tokens[i] === '-g') return tokens[i + 1];
  return undefined;
}
