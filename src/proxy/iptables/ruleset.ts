/**
 * Reading iptables rules back: a tokenizer for restore/save syntax, a parser for
 * `iptables-save` output, and a normaliser that puts a rule into the canonical form
 * `iptables-save` prints. kube-proxy writes `-m comment --comment X -m tcp -p tcp -d IP --dport N`;
 * the kernel hands back `-d IP/32 -p tcp -m comment --comment X -m tcp --dport N`. Comparing a
 * plan with the kernel (and two plans with each other) goes through `normalizeRule` on both sides.
 */

export type Table = 'filter' | 'nat';

/** table → chain → rules (the arguments after `-A <chain>`, as text), in chain order. */
export type Ruleset = Map<string, Map<string, string[]>>;

/** Splits one rule line the way iptables-restore does: whitespace, double quotes, backslash escapes. */
export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let cur = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inToken = true;
    } else if (c === '"') {
      quoted = !quoted;
      inToken = true;
    } else if (!quoted && /\s/.test(c)) {
      if (inToken) tokens.push(cur);
      cur = '';
      inToken = false;
    } else {
      cur += c;
      inToken = true;
    }
  }
  if (inToken) tokens.push(cur);
  return tokens;
}

/** Quotes a token for restore input when it needs it (comments with spaces). */
export function quoteToken(token: string): string {
  return /^[^\s"\\]+$/.test(token) ? token : `"${token.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * Parses `iptables-save` output (any number of tables). Chains are listed even when empty,
 * so "chain exists" and "chain has no rules" stay distinguishable. `rulesOf` limits which
 * chains' rules are kept (the others are listed empty): a full sync on a node with 100k rules
 * only needs the built-in chains' rules and the chain names.
 */
export function parseSave(
  text: string,
  opts: { rulesOf?: (chain: string) => boolean } = {},
): Ruleset {
  const tables: Ruleset = new Map();
  let table: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      table = new Map();
      tables.set(line.slice(1), table);
    } else if (line.startsWith(':')) {
      table?.set(line.slice(1).split(/\s+/)[0]!, []);
    } else if (line.startsWith('-A ') || line.startsWith('[')) {
      // `iptables-save -c` prefixes rules with [packets:bytes].
      const rule = line.replace(/^\[\d+:\d+\]\s+/, '');
      const chain = rule.slice(3, rule.indexOf(' ', 3) === -1 ? undefined : rule.indexOf(' ', 3));
      if (opts.rulesOf && !opts.rulesOf(chain)) continue;
      const tokens = tokenize(rule);
      const rules = table?.get(chain) ?? [];
      rules.push(tokens.slice(2).map(quoteToken).join(' '));
      table?.set(chain, rules);
    }
  }
  return tables;
}

interface ParsedRule {
  basics: Map<string, { negated: boolean; value: string }>;
  modules: { name: string; options: string[][] }[];
  target: { kind: '-j' | '-g'; name: string; options: string[] } | undefined;
}

const BASIC_OPTIONS: Record<string, string> = {
  '-s': '-s',
  '--source': '-s',
  '--src': '-s',
  '-d': '-d',
  '--destination': '-d',
  '--dst': '-d',
  '-i': '-i',
  '--in-interface': '-i',
  '-o': '-o',
  '--out-interface': '-o',
  '-p': '-p',
  '--protocol': '-p',
};
/** The order iptables-save prints the basic matches in. */
const BASIC_ORDER = ['-s', '-d', '-i', '-o', '-p'];
/** Options that take exactly one value, even when it looks like a flag. */
const SINGLE_VALUE = new Set(['--comment', '--name', '--to-destination', '--probability']);

/** Parses the arguments of one rule (everything after `-A <chain>`). */
export function parseRule(args: readonly string[]): ParsedRule {
  const rule: ParsedRule = { basics: new Map(), modules: [], target: undefined };
  let negated = false;
  for (let i = 0; i < args.length; i++) {
    const tok = args[i]!;
    if (rule.target) {
      rule.target.options.push(tok);
      continue;
    }
    if (tok === '!') {
      negated = true;
      continue;
    }
    const basic = BASIC_OPTIONS[tok];
    if (basic) {
      rule.basics.set(basic, { negated, value: args[++i] ?? '' });
    } else if (tok === '-m' || tok === '--match') {
      rule.modules.push({ name: args[++i] ?? '', options: [] });
    } else if (tok === '-j' || tok === '--jump' || tok === '-g' || tok === '--goto') {
      rule.target = {
        kind: tok.startsWith('-g') || tok === '--goto' ? '-g' : '-j',
        name: args[++i] ?? '',
        options: [],
      };
    } else if (tok.startsWith('--')) {
      const option = negated ? ['!', tok] : [tok];
      if (SINGLE_VALUE.has(tok)) option.push(args[++i] ?? '');
      else
        while (i + 1 < args.length && !args[i + 1]!.startsWith('-') && args[i + 1] !== '!')
          option.push(args[++i]!);
      // An option belongs to the match loaded last, even with basic matches in between
      // (`-m tcp -p tcp -d IP --dport 80`). `-p tcp --dport 80` loads tcp implicitly.
      let owner = rule.modules.at(-1);
      if (!owner) {
        owner = { name: rule.basics.get('-p')?.value ?? '', options: [] };
        rule.modules.push(owner);
      }
      owner.options.push(option);
    } else {
      throw new Error(`unexpected token ${JSON.stringify(tok)} in rule: ${args.join(' ')}`);
    }
    negated = false;
  }
  return rule;
}

/** The kernel keeps a statistic probability as a 31-bit fraction; iptables prints it with %.11f. */
export function kernelProbability(p: string): string {
  const fraction = Math.round(Number(p) * 0x80000000);
  return (fraction / 0x80000000).toFixed(11);
}

function hex(n: string): string {
  return `0x${Number.parseInt(n, 16).toString(16)}`;
}

/** `0x4000` or `0x4000/0xffffffff` → canonical value/mask strings. */
function markPair(v: string, defaultMask: string): string {
  const [value, mask] = v.split('/');
  return `${hex(value!)}/${hex(mask ?? defaultMask)}`;
}

const RECENT_ORDER = [
  '--set',
  '--rcheck',
  '--update',
  '--remove',
  '--seconds',
  '--reap',
  '--hitcount',
  '--rttl',
  '--name',
];

function normalizeModule(m: { name: string; options: string[][] }): string[] {
  let options = m.options.map((o) => [...o]);
  switch (m.name) {
    case 'statistic':
      options = options.map((o) =>
        o[0] === '--probability' ? ['--probability', kernelProbability(o[1]!)] : o,
      );
      break;
    case 'recent':
      // --mask 255.255.255.255 and --rsource are the defaults iptables-save spells out.
      options = options
        .filter((o) => !(o[0] === '--mask' && o[1] === '255.255.255.255') && o[0] !== '--rsource')
        .sort((a, b) => RECENT_ORDER.indexOf(a[0]!) - RECENT_ORDER.indexOf(b[0]!));
      break;
    case 'mark':
      options = options.map((o) =>
        o.map((t, i) =>
          i === o.length - 1 && o.includes('--mark') ? markPair(t, '0xffffffff') : t,
        ),
      );
      break;
  }
  return ['-m', m.name, ...options.flat()];
}

function normalizeTarget(t: NonNullable<ParsedRule['target']>): string[] {
  const opts = [...t.options];
  if (t.name === 'MARK' && opts.length === 2) {
    const [op, v] = opts as [string, string];
    if (op === '--or-mark') return [t.kind, 'MARK', '--set-xmark', `${hex(v)}/${hex(v)}`];
    if (op === '--xor-mark') return [t.kind, 'MARK', '--set-xmark', `${hex(v)}/0x0`];
    if (op === '--set-mark') return [t.kind, 'MARK', '--set-xmark', markPair(v, '0xffffffff')];
    if (op === '--set-xmark') return [t.kind, 'MARK', '--set-xmark', markPair(v, '0xffffffff')];
  }
  if (t.name === 'REJECT' && !opts.includes('--reject-with'))
    opts.push('--reject-with', 'icmp-port-unreachable');
  return [t.kind, t.name, ...opts];
}

function withMask(addr: string): string {
  return addr.includes('/') ? addr : `${addr}/32`;
}

/**
 * A rule in the canonical form iptables-save prints: basic matches first (-s -d -i -o -p,
 * addresses with their prefix length), then matches in the order they were loaded with
 * defaults spelled out, then the target with its defaults. Two rules that the kernel stores
 * identically normalise to the same string.
 */
export function normalizeRule(rule: string | readonly string[]): string {
  const args = typeof rule === 'string' ? tokenize(rule) : rule;
  const parsed = parseRule(args);
  const out: string[] = [];
  for (const key of BASIC_ORDER) {
    const b = parsed.basics.get(key);
    if (!b) continue;
    if (b.negated) out.push('!');
    out.push(key, key === '-s' || key === '-d' ? withMask(b.value) : b.value);
  }
  for (const m of parsed.modules) out.push(...normalizeModule(m));
  if (parsed.target) out.push(...normalizeTarget(parsed.target));
  return out.map(quoteToken).join(' ');
}

/** Normalises every rule of the chains picked by `keep`, preserving order within each chain. */
export function normalizeChains(
  chains: Map<string, string[]>,
  keep: (chain: string) => boolean = () => true,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [chain, rules] of [...chains].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (keep(chain))
      out.set(
        chain,
        rules.map((r) => normalizeRule(r)),
      );
  }
  return out;
}
