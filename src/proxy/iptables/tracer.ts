/**
 * A small packet tracer over planned (or saved) kube-proxy rules, in the spirit of kube-proxy's
 * iptables test tracer: it runs one packet through nat PREROUTING's KUBE-SERVICES, then the
 * filter hooks, and returns every possible outcome. `-m statistic` splits a trace in two
 * (with the rule's probability), so a Service with three endpoints yields three outcomes of
 * probability 1/3 each. Only the matches and targets kube-proxy uses are understood.
 *
 * Like iptables-restore, it refuses a ruleset with a jump or goto to a chain that does not exist
 * (the kernel rejects the whole transaction, and the node then programs no Service at all), even
 * when no traced packet would take that jump: svclab issue 15 was such a jump, which an earlier
 * tracer took for an empty chain.
 */

import { JUMP_HOOKS, KUBE_SERVICES } from './chains.js';
import { parseRule, tokenize, type Table } from './ruleset.js';

export interface Packet {
  src: string;
  dst: string;
  protocol: 'TCP' | 'UDP';
  dport: number;
}

export interface TraceOptions {
  /** The node's own addresses (addrtype LOCAL); 127.0.0.0/8 always counts as local. */
  localAddresses: readonly string[];
  /** `recent` lists that already hold the client (ClientIP affinity state), by list name. */
  recentHits?: readonly string[];
}

export interface TraceOutcome {
  probability: number;
  /** Chains visited in nat, in order. */
  natPath: string[];
  /** `ip:port` when the packet was DNATed to an endpoint. */
  dnat?: string;
  /** The masquerade mark was set: KUBE-POSTROUTING will SNAT the packet. */
  masquerade: boolean;
  /** ACCEPT (by policy or rule), or the filter rule that dropped or rejected it. */
  verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  /** Chains visited in filter, in order. */
  filterPath: string[];
}

interface State {
  probability: number;
  mark: number;
  path: string[];
  dnat?: string;
  verdict?: 'ACCEPT' | 'DROP' | 'REJECT';
}

type Rules = Record<Table, Map<string, string[]>>;

/** The targets that are not chains: the ones the tracer follows, and those only KUBE-POSTROUTING uses. */
const TRACED_TARGETS = new Set(['MARK', 'RETURN', 'DNAT', 'ACCEPT', 'DROP', 'REJECT']);
const TARGET_EXTENSIONS = new Set([...TRACED_TARGETS, 'MASQUERADE', 'SNAT']);

/**
 * Every jump or goto of `rules` to a chain that is not in `rules` (built-in chains cannot be
 * jumped to either), as `table/chain rule N: -j TARGET`. Empty when iptables-restore would load it.
 */
export function undeclaredJumps(rules: Rules): string[] {
  const out: string[] = [];
  for (const table of Object.keys(rules) as Table[]) {
    for (const [chain, chainRules] of rules[table]) {
      chainRules.forEach((text, i) => {
        const target = parseRule(tokenize(text)).target;
        if (!target || TARGET_EXTENSIONS.has(target.name) || rules[table].has(target.name)) return;
        out.push(`${table}/${chain} rule ${i + 1}: ${target.kind} ${target.name}`);
      });
    }
  }
  return out;
}

/** Throws, naming each one, when `rules` jumps to a chain it does not have. */
export function checkJumpTargets(rules: Rules): void {
  const bad = undeclaredJumps(rules);
  if (bad.length > 0)
    throw new Error(
      `jump to a chain that does not exist (iptables-restore rejects the ruleset): ${bad.join('; ')}`,
    );
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const len = bits === undefined ? 32 : Number(bits);
  const mask = len === 0 ? 0 : 2 ** 32 - 2 ** (32 - len);
  return (ipToInt(ip) & mask) >>> 0 === (ipToInt(base!) & mask) >>> 0;
}

export function tracePacket(rules: Rules, packet: Packet, opts: TraceOptions): TraceOutcome[] {
  checkJumpTargets(rules);
  const isLocal = (ip: string) => inCidr(ip, '127.0.0.0/8') || opts.localAddresses.includes(ip);
  const recent = new Set(opts.recentHits ?? []);

  /** 1 = matches, 0 = does not, 0 < p < 1 = matches with probability p. */
  const matches = (args: string[], pkt: Packet, mark: number): number => {
    const r = parseRule(args);
    for (const [key, { negated, value }] of r.basics) {
      let ok = true;
      if (key === '-s') ok = inCidr(pkt.src, value);
      else if (key === '-d') ok = inCidr(pkt.dst, value);
      else if (key === '-p') ok = value.toLowerCase() === pkt.protocol.toLowerCase();
      if (ok === negated) return 0;
    }
    let p = 1;
    for (const m of r.modules) {
      for (const o of m.options) {
        const negated = o[0] === '!';
        const [flag, ...values] = negated ? o.slice(1) : o;
        let ok = true;
        switch (m.name) {
          case 'tcp':
          case 'udp':
            ok =
              m.name === pkt.protocol.toLowerCase() &&
              (flag !== '--dport' || Number(values[0]) === pkt.dport);
            break;
          case 'addrtype':
            ok =
              flag === '--dst-type'
                ? isLocal(pkt.dst)
                : flag === '--src-type'
                  ? isLocal(pkt.src)
                  : true;
            break;
          case 'mark': {
            const [v, mk] = (values[0] ?? '').split('/');
            ok = (mark & Number(mk ?? '0xffffffff')) === Number(v);
            break;
          }
          case 'conntrack':
            // Every traced packet is the first of its connection.
            ok = flag !== '--ctstate' || (values[0] ?? '').split(',').includes('NEW');
            break;
          case 'recent':
            if (flag === '--rcheck' || flag === '--update')
              ok = recent.has(m.options.find((x) => x[0] === '--name')?.[1] ?? '');
            break;
          case 'statistic':
            if (flag === '--probability') p *= Number(values[0]);
            break;
        }
        if (ok === negated) return 0;
      }
    }
    return p;
  };

  /**
   * Runs `input` through `chain`. `cont` are states that fell off the end or RETURNed (the
   * caller goes on with its next rule); `term` got a verdict or were DNATed.
   */
  const walk = (
    table: Table,
    chain: string,
    pkt: Packet,
    input: State[],
  ): { cont: State[]; term: State[] } => {
    const chainRules = rules[table].get(chain);
    if (!chainRules) throw new Error(`no chain ${table}/${chain}`);
    let live = input.map((s) => ({ ...s, path: [...s.path, chain] }));
    const term: State[] = [];
    const returned: State[] = [];
    for (const text of chainRules) {
      const args = tokenize(text);
      const target = parseRule(args).target;
      const opt = (name: string) => target?.options[target.options.indexOf(name) + 1] ?? '';
      const next: State[] = [];
      for (const s of live) {
        const p = matches(args, pkt, s.mark);
        if (p === 0) {
          next.push(s);
          continue;
        }
        if (p < 1) next.push({ ...s, probability: s.probability * (1 - p) });
        const hit: State = { ...s, probability: s.probability * p };
        switch (target?.name) {
          case undefined:
            next.push(hit);
            break;
          case 'MARK':
            if (target.options.includes('--or-mark')) hit.mark |= Number(opt('--or-mark'));
            if (target.options.includes('--xor-mark')) hit.mark ^= Number(opt('--xor-mark'));
            next.push(hit);
            break;
          case 'RETURN':
            returned.push(hit);
            break;
          case 'DNAT':
            term.push({ ...hit, dnat: opt('--to-destination'), verdict: 'ACCEPT' });
            break;
          case 'ACCEPT':
          case 'DROP':
          case 'REJECT':
            term.push({ ...hit, verdict: target.name });
            break;
          default: {
            const { kind, name } = target!;
            if (TARGET_EXTENSIONS.has(name))
              throw new Error(`target ${name} in ${table}/${chain} is not traced`);
            // What comes back without a verdict continues with the next rule after a jump, and
            // after a goto with the rule after the one that called this chain.
            const sub = walk(table, name, pkt, [hit]);
            if (kind === '-g') returned.push(...sub.cont);
            else next.push(...sub.cont);
            term.push(...sub.term);
          }
        }
      }
      live = next;
    }
    return { cont: [...live, ...returned], term };
  };

  const run = (table: Table, chain: string, pkt: Packet, states: State[]): State[] => {
    const { cont, term } = walk(table, chain, pkt, states);
    return [...term, ...cont];
  };

  const start: State = { probability: 1, mark: 0, path: [] };
  const outcomes: TraceOutcome[] = [];
  for (const nat of run('nat', KUBE_SERVICES, packet, [start])) {
    const dst = nat.dnat ? nat.dnat.split(':')[0]! : packet.dst;
    const dport = nat.dnat ? Number(nat.dnat.split(':')[1]) : packet.dport;
    const pkt: Packet = { ...packet, dst, dport };
    const builtin = isLocal(dst) ? 'INPUT' : 'FORWARD';
    // Hooks are prepended in JUMP_HOOKS order, so the kernel evaluates them in reverse.
    const hooks = JUMP_HOOKS.filter((h) => h.table === 'filter' && h.from === builtin).reverse();
    let states: State[] = [{ probability: nat.probability, mark: nat.mark, path: [] }];
    const finished: State[] = [];
    for (const h of hooks) {
      const after = run('filter', h.to, pkt, states);
      finished.push(...after.filter((s) => s.verdict));
      states = after.filter((s) => !s.verdict);
    }
    for (const f of [...finished, ...states]) {
      outcomes.push({
        probability: f.probability,
        natPath: nat.path,
        ...(nat.dnat ? { dnat: nat.dnat } : {}),
        masquerade: (nat.mark & 0x4000) !== 0,
        verdict: f.verdict ?? 'ACCEPT',
        filterPath: f.path,
      });
    }
  }
  return outcomes;
}
