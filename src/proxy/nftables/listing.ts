import { isAffinitySetName } from './names.js';
import type { BaseChainHook, ChainSpec, ElementSpec, Ruleset, SetSpec } from './ruleset.js';

/**
 * Reads back what the kernel holds: `nft -j list table` for objects and elements (rules come
 * without text there), `nft list table` for rule text in canonical form.
 */

type Json = Record<string, unknown>;

function scalar(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (v && typeof v === 'object') {
    const o = v as Json;
    if (Array.isArray(o.concat)) return o.concat.map(scalar).join(' . ');
    if (o.prefix && typeof o.prefix === 'object') {
      const p = o.prefix as Json;
      return `${scalar(p.addr)}/${scalar(p.len)}`;
    }
    if (o.elem && typeof o.elem === 'object') return scalar((o.elem as Json).val);
  }
  return JSON.stringify(v);
}

function elementComment(v: unknown): string | undefined {
  if (v && typeof v === 'object' && (v as Json).elem) {
    const c = ((v as Json).elem as Json).comment;
    return typeof c === 'string' ? c : undefined;
  }
  return undefined;
}

function verdict(v: unknown): string {
  if (v && typeof v === 'object') {
    const [kind, arg] = Object.entries(v as Json)[0] ?? [];
    if (kind && arg && typeof arg === 'object' && 'target' in (arg as Json))
      return `${kind} ${String((arg as Json).target)}`;
    if (kind) return kind;
  }
  return scalar(v);
}

function typeString(t: unknown): string {
  return Array.isArray(t) ? t.map(String).join(' . ') : String(t);
}

/**
 * Objects of one table from `nft -j list ...` outputs (a whole `list table`, or `list tables`
 * plus `list chains` plus `list set ...`: later documents add to or replace earlier objects).
 * Chains carry no rules; elements of affinity sets (client addresses the kernel learnt) are
 * left out. Undefined when the table is not there.
 */
export function parseJsonListing(
  jsonDocs: readonly string[],
  family: string,
  table: string,
): Ruleset | undefined {
  const items = jsonDocs.flatMap(
    (json) => (JSON.parse(json) as { nftables?: Json[] }).nftables ?? [],
  );
  let rs: Ruleset | undefined;
  const ours = (o: Json) => o.family === family && (o.table ?? o.name) === table;
  for (const item of items) {
    if (item.table && ours(item.table as Json)) {
      if (rs) continue;
      const t = item.table as Json;
      rs = {
        family: 'ip',
        table: String(t.name),
        comment: typeof t.comment === 'string' ? t.comment : '',
        chains: new Map(),
        sets: new Map(),
      };
    } else if (item.chain && rs && ours(item.chain as Json)) {
      const c = item.chain as Json;
      const base: BaseChainHook | undefined =
        typeof c.hook === 'string'
          ? {
              type: c.type as BaseChainHook['type'],
              hook: c.hook as BaseChainHook['hook'],
              priority: Number(c.prio),
            }
          : undefined;
      const spec: ChainSpec = { name: String(c.name), base, rules: [] };
      if (typeof c.comment === 'string') spec.comment = c.comment;
      rs.chains.set(spec.name, spec);
    } else if ((item.set || item.map) && rs && ours((item.set ?? item.map) as Json)) {
      const s = (item.set ?? item.map) as Json;
      const kind = item.map ? 'map' : 'set';
      const name = String(s.name);
      const spec: SetSpec = {
        name,
        kind,
        type: kind === 'map' ? `${typeString(s.type)} : ${String(s.map)}` : typeString(s.type),
        elements: new Map(),
      };
      if (Array.isArray(s.flags)) spec.flags = s.flags.map(String);
      if (typeof s.timeout === 'number') spec.timeoutSeconds = s.timeout;
      if (typeof s.comment === 'string') spec.comment = s.comment;
      if (Array.isArray(s.elem) && !isAffinitySetName(name)) {
        for (const e of s.elem) {
          if (kind === 'map' && Array.isArray(e)) {
            const el: ElementSpec = { value: verdict(e[1]) };
            const comment = elementComment(e[0]);
            if (comment) el.comment = comment;
            spec.elements.set(scalar(e[0]), el);
          } else {
            const el: ElementSpec = {};
            const comment = elementComment(e);
            if (comment) el.comment = comment;
            spec.elements.set(scalar(e), el);
          }
        }
      }
      rs.sets.set(name, spec);
    }
  }
  return rs;
}

/** Chain name → rule lines, from `nft list table` text (canonical rule syntax). */
export function parseTextRules(text: string): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const open = /^chain (\S+) \{$/.exec(line);
    if (open) {
      current = [];
      chains.set(open[1]!, current);
      continue;
    }
    if (!current) continue;
    if (line === '}') {
      current = undefined;
      continue;
    }
    if (line === '' || line.startsWith('type ') || line.startsWith('comment ')) continue;
    current.push(line);
  }
  return chains;
}
