import { byText, type NormalisedRuleset, type RulesetLine } from './lines.js';

/**
 * `nft list table <family> kube-proxy` reduced to a canonical order: the table's own line, then
 * every set and map in name order (its properties on one line, then one line per element, the
 * elements sorted: the kernel lists them in hash order), then every chain in name order (its
 * type, hook and comment on one line, then its rules in their order, which is what the kernel
 * evaluates); lines of an `ip6` table start with `ip6 `. Learnt state is dropped: element `expires`/`timeout` (affinity sets fill with
 * client addresses as traffic flows) and rule counters.
 */
export function normaliseNftTable(listing: string): NormalisedRuleset {
  const lines = listing.split('\n').map((l) => l.trim());
  let family = 'ip';
  let tableComment: string | undefined;
  const sets = new Map<string, { kind: string; props: string[]; elements: string[] }>();
  const chains = new Map<string, { props: string[]; rules: string[] }>();

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const head = /^table (\S+) (\S+) \{$/.exec(line);
    if (head) {
      family = head[1]!;
      continue;
    }
    if (line.startsWith('comment ') && sets.size === 0 && chains.size === 0) {
      tableComment = line;
      continue;
    }
    const obj = /^(set|map|chain) (\S+) \{$/.exec(line);
    if (!obj) continue;
    const [, kind, name] = obj as unknown as [string, string, string];
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '}'; i++) body.push(lines[i]!);
    if (kind === 'chain') {
      const props: string[] = [];
      const rules: string[] = [];
      for (const l of body) {
        if (l === '') continue;
        if (/^type \S+ hook /.test(l) || (l.startsWith('comment ') && rules.length === 0))
          props.push(l);
        else rules.push(stripCounters(l));
      }
      chains.set(name, { props, rules });
    } else {
      const props: string[] = [];
      const elements: string[] = [];
      for (let j = 0; j < body.length; j++) {
        const l = body[j]!;
        if (l === '') continue;
        if (l.startsWith('elements = {')) {
          // The element list may span lines; it ends at the brace that closes it.
          let text = l.slice('elements = {'.length);
          while (!closes(text) && j + 1 < body.length) text += ' ' + body[++j]!;
          elements.push(...splitElements(text.slice(0, text.lastIndexOf('}'))));
        } else props.push(l);
      }
      sets.set(name, { kind, props, elements: elements.map(stripLearnt).sort(byText) });
    }
  }

  // IPv6 lines carry the family, so one comparison can hold both tables.
  const p = family === 'ip6' ? 'ip6 ' : '';
  const out: RulesetLine[] = [];
  out.push({
    kind: 'table',
    text: `${p}table ${family} kube-proxy${tableComment ? ` ${tableComment}` : ''}`,
    table: family,
    object: '',
  });
  for (const name of [...sets.keys()].sort(byText)) {
    const s = sets.get(name)!;
    out.push({
      kind: 'set',
      text: `${p}${s.kind} ${name} { ${s.props.join('; ')} }`,
      table: family,
      object: name,
    });
    for (const e of s.elements)
      out.push({
        kind: 'element',
        text: `${p}${s.kind} ${name} element ${e}`,
        table: family,
        object: name,
        key: elementKey(e),
      });
  }
  for (const name of [...chains.keys()].sort(byText)) {
    const c = chains.get(name)!;
    out.push({
      kind: 'chain',
      text: `${p}chain ${name}${c.props.length > 0 ? ` { ${c.props.join(' ')} }` : ''}`,
      table: family,
      object: name,
    });
    for (const r of c.rules)
      out.push({ kind: 'rule', text: `${p}chain ${name}: ${r}`, table: family, object: name });
  }
  return { source: `nft list table ${family} kube-proxy`, lines: out };
}

/** True once `text` (what follows `elements = {`) holds the brace that closes the list. */
function closes(text: string): boolean {
  let depth = 1;
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '{') depth++;
    else if (!quoted && c === '}' && --depth === 0) return true;
  }
  return false;
}

/** Splits an element list at its top-level commas (not inside quotes or braces). */
export function splitElements(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    if (!quoted && c === '{') depth++;
    if (!quoted && c === '}') depth--;
    if (!quoted && depth === 0 && c === ',') {
      if (cur.trim()) out.push(cur.trim().replace(/\s+/g, ' '));
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) out.push(cur.trim().replace(/\s+/g, ' '));
  return out;
}

/** An element without what the kernel learnt or counts: `expires`, per-element `timeout`, counters. */
function stripLearnt(e: string): string {
  return e
    .replace(/ timeout \S+/g, '')
    .replace(/ expires \S+/g, '')
    .replace(/ counter packets \d+ bytes \d+/g, '');
}

function stripCounters(rule: string): string {
  return rule.replace(/ counter packets \d+ bytes \d+/g, ' counter');
}

/** The key of an element: before its comment or its value. */
function elementKey(e: string): string {
  const cut = [e.indexOf(' comment "'), e.indexOf(' : ')].filter((i) => i >= 0);
  return cut.length > 0 ? e.slice(0, Math.min(...cut)) : e;
}
