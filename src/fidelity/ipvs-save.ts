import { byText, type NormalisedRuleset, type RulesetLine } from './lines.js';

/**
 * What IPVS mode keeps outside iptables, normalised for the comparison (the iptables side goes
 * through iptables-save.ts like the other modes). Each line's `table` says where it came from
 * (`ipvs`, `ipset`, `kube-ipvs0`), `object` what it belongs to (a virtual server, a set, the
 * interface) and `key` what ties it to a Service port (an address:port, a set member, an address).
 */

/** `TCP 10.96.0.1:443`: the virtual server a `-A`/`-a` line of `ipvsadm -Sn` is about. */
const SERVICE_FLAGS: Record<string, string> = {
  '-t': 'TCP',
  '--tcp-service': 'TCP',
  '-u': 'UDP',
  '--udp-service': 'UDP',
  '--sctp-service': 'SCTP',
  '-f': 'FWM',
  '--fwmark-service': 'FWM',
};

/**
 * `ipvsadm -Sn`: one line per virtual server (`-A`, with scheduler, persistence and flags as
 * printed) followed by its real servers (`-a`, forwarding method and weight as printed), virtual
 * servers in text order and real servers in text order within theirs (the kernel lists both in
 * hash order). `timeouts`, when given, is `ipvsadm -Ln --timeout` (the node's TCP, TCP FIN and UDP
 * connection timeouts, which --ipvs-tcp-timeout and friends set), one more line.
 */
export function normaliseIpvsadmSave(save: string, timeouts?: string): NormalisedRuleset {
  const services = new Map<string, { line: string; reals: string[] }>();
  for (const raw of save.split('\n')) {
    const line = raw.trim().replace(/\s+/g, ' ');
    if (line === '') continue;
    const tokens = line.split(' ');
    const vs = virtualServerOf(tokens);
    if (!vs) continue;
    const entry = services.get(vs) ?? { line: '', reals: [] };
    if (tokens[0] === '-A' || tokens[0] === '--add-service') entry.line = line;
    else if (tokens[0] === '-a' || tokens[0] === '--add-server') entry.reals.push(line);
    else continue;
    services.set(vs, entry);
  }
  const out: RulesetLine[] = [];
  for (const vs of [...services.keys()].sort(byText)) {
    const { line, reals } = services.get(vs)!;
    // A real server without its virtual server line cannot be printed by ipvsadm; keep it visible.
    if (line) out.push({ kind: 'rule', text: `ipvs ${line}`, table: 'ipvs', object: vs, key: vs });
    for (const r of reals.sort(byText))
      out.push({ kind: 'element', text: `ipvs ${r}`, table: 'ipvs', object: vs, key: vs });
  }
  const t = timeouts === undefined ? undefined : /Timeout \(tcp tcpfin udp\): (.*)/.exec(timeouts);
  if (t)
    out.push({
      kind: 'table',
      text: `ipvs timeouts (tcp tcpfin udp) ${t[1]!.trim()}`,
      table: 'ipvs',
      object: 'timeouts',
    });
  return { source: 'ipvsadm -Sn', lines: out };
}

/** `TCP 10.96.0.1:443` from the service flag of a `-A`/`-a` line. */
function virtualServerOf(tokens: readonly string[]): string | undefined {
  for (let i = 1; i < tokens.length - 1; i++) {
    const proto = SERVICE_FLAGS[tokens[i]!];
    if (proto) return `${proto} ${tokens[i + 1]}`;
  }
  return undefined;
}

/**
 * `ipset save`, only kube-proxy's sets (`KUBE-*`): each set's create line with its type and
 * options, then its members in text order (the kernel lists hash members in hash order), sets in
 * name order. `initval` is a random hash seed the kernel picks per set and is dropped; every
 * other option (family, hashsize, maxelem, range, comment, bucketsize) is kept as printed.
 */
export function normaliseIpsetSave(save: string): NormalisedRuleset {
  const sets = new Map<string, { create: string; members: string[] }>();
  for (const raw of save.split('\n')) {
    const line = raw.trim().replace(/\s+/g, ' ');
    const m = /^(create|add) (\S+)(?: (.*))?$/.exec(line);
    if (!m || !m[2]!.startsWith('KUBE-')) continue;
    const [, verb, name, rest = ''] = m as unknown as [string, string, string, string?];
    const set = sets.get(name) ?? { create: '', members: [] };
    if (verb === 'create')
      set.create = `create ${name} ${rest.replace(/ initval 0x[0-9a-f]+/, '')}`;
    else set.members.push(rest);
    sets.set(name, set);
  }
  const out: RulesetLine[] = [];
  for (const name of [...sets.keys()].sort(byText)) {
    const { create, members } = sets.get(name)!;
    if (create) out.push({ kind: 'set', text: `ipset ${create}`, table: 'ipset', object: name });
    for (const member of members.sort(byText)) {
      // The member without a per-entry comment or timeout, for attribution.
      const key = member.split(' ')[0]!;
      out.push({
        kind: 'element',
        text: `ipset add ${name} ${member}`,
        table: 'ipset',
        object: name,
        key,
      });
    }
  }
  return { source: 'ipset save', lines: out };
}

/**
 * `ip -o addr show dev kube-ipvs0` (and `ip -o link show dev kube-ipvs0` for the device's flags
 * and state): the addresses as `inet 10.96.0.1/32 scope global`, in text order, without the
 * interface index and lifetimes. A node without the device has no lines.
 */
export function normaliseDummyAddresses(addr: string, link?: string): NormalisedRuleset {
  const out: RulesetLine[] = [];
  const l =
    link === undefined ? undefined : /^\d+:\s+(\S+?):\s+(<[^>]*>).*?\bstate (\S+)/.exec(link);
  if (l)
    out.push({
      kind: 'table',
      text: `kube-ipvs0 link ${l[2]} state ${l[3]}`,
      table: 'kube-ipvs0',
      object: 'link',
    });
  const addrs: { text: string; ip: string }[] = [];
  for (const raw of addr.split('\n')) {
    const m = /^\d+:\s+\S+\s+(inet6?)\s+(\S+)\s+(.*?)(?:\\|$)/.exec(raw);
    if (!m) continue;
    const [, family, cidr, rest] = m as unknown as [string, string, string, string];
    // `scope global kube-ipvs0`: the label repeats the device name; the rest is kept.
    const attrs = rest
      .replace(/\bvalid_lft \S+|\bpreferred_lft \S+/g, '')
      .replace(/\bkube-ipvs0\b/, '')
      .trim()
      .replace(/\s+/g, ' ');
    addrs.push({ text: `${family} ${cidr}${attrs ? ` ${attrs}` : ''}`, ip: cidr.split('/')[0]! });
  }
  for (const a of addrs.sort((x, y) => byText(x.text, y.text)))
    out.push({
      kind: 'element',
      text: `kube-ipvs0 ${a.text}`,
      table: 'kube-ipvs0',
      object: 'address',
      key: a.ip,
    });
  return { source: 'ip -o addr show dev kube-ipvs0', lines: out };
}

/**
 * The sysctls kube-proxy's IPVS mode sets in its node's namespace (NewProxier in
 * pkg/proxy/ipvs/proxier.go: sysctlVSConnTrack, sysctlConnReuse, sysctlExpireNoDestConn,
 * sysctlExpireQuiescentTemplate, sysctlForward, and sysctlArpIgnore / sysctlArpAnnounce with
 * --ipvs-strict-arp). All are per network namespace, so the twin's show what svclab's planner set
 * on top of a new namespace's defaults. conn_reuse_mode is read even where kube-proxy leaves it
 * (kernels from 5.9): both sides must then show the kernel's default.
 */
export const IPVS_SYSCTLS = [
  'net.ipv4.vs.conntrack',
  'net.ipv4.vs.conn_reuse_mode',
  'net.ipv4.vs.expire_nodest_conn',
  'net.ipv4.vs.expire_quiescent_template',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.arp_ignore',
  'net.ipv4.conf.all.arp_announce',
] as const;

/**
 * `sysctl KEY...` output (`net.ipv4.vs.conntrack = 1`): one line per key, in IPVS_SYSCTLS'
 * order, as `sysctl net.ipv4.vs.conntrack = 1`. A key the output lacks is a line saying so, so
 * that a side missing it differs instead of comparing equal by omission.
 */
export function normaliseSysctls(text: string): NormalisedRuleset {
  const values = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const m = /^\s*(\S+)\s*=\s*(.*?)\s*$/.exec(raw);
    if (m) values.set(m[1]!, m[2]!.replace(/\s+/g, ' '));
  }
  const lines: RulesetLine[] = IPVS_SYSCTLS.map((key) => ({
    kind: 'table',
    text: `sysctl ${key} ${values.has(key) ? `= ${values.get(key)}` : '(not present)'}`,
    table: 'sysctl',
    object: key,
  }));
  return { source: 'sysctl', lines };
}
