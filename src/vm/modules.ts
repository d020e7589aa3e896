/**
 * Which kernel modules the VM loads, and how to find the files they need in a kernel's
 * module tree. The order of the lists is the load order.
 */

/** Modules the init needs before it can reach the host: virtio transport, 9p, ports, fw. */
export const bootModules = ['virtio_pci', 'virtio_console', '9pnet_virtio', '9p'] as const;

/**
 * Modules a lab uses, in load order. `crc32c_generic` comes first: libcrc32c (pulled in by
 * nf_conntrack, hence by ip_vs and every NAT module) fails with "Unknown symbol" unless a
 * crc32c implementation is already loaded, and busybox modprobe does not follow the
 * `softdep libcrc32c pre: crc32c` that would load one.
 */
export const labModules = [
  'crc32c_generic',
  // IPVS and its schedulers (kube-proxy --ipvs-scheduler: rr default, wrr, lc, sh).
  'ip_vs',
  'ip_vs_rr',
  'ip_vs_wrr',
  'ip_vs_lc',
  'ip_vs_sh',
  // ipsets kube-proxy's IPVS mode creates (hash:ip,port / hash:ip,port,ip / hash:ip,port,net,
  // bitmap:port for NodePorts) and the plain types labs use.
  'ip_set',
  'ip_set_hash_ip',
  'ip_set_hash_ipport',
  'ip_set_hash_ipportip',
  'ip_set_hash_ipportnet',
  'ip_set_hash_net',
  'ip_set_bitmap_port',
  'nf_conntrack',
  'nf_nat',
  'nf_conntrack_netlink',
  // Data path of a lab: veth pairs, kube-ipvs0 dummy devices, node bridges, netem delays.
  'veth',
  'dummy',
  'bridge',
  'sch_netem',
  // iptables-legacy tables and the matches and targets kube-proxy's rules use.
  'ip_tables',
  'iptable_nat',
  'iptable_filter',
  'iptable_mangle',
  'ip6_tables',
  'ip6table_nat',
  'ip6table_filter',
  'xt_statistic',
  'xt_recent',
  'xt_MASQUERADE',
  'xt_comment',
  'xt_mark',
  'xt_conntrack',
  'xt_addrtype',
  'xt_set',
  'xt_multiport',
  'xt_nat',
  // kube-proxy's IPVS mode accepts traffic to external IPs with `-m physdev ! --physdev-is-in`
  // (not from a bridge port); without the module iptables-restore fails the whole sync.
  'xt_physdev',
  // loadBalancerSourceRanges that leave the node out: `-m ipvs --vaddr` in KUBE-IPVS-OUT-FILTER.
  'xt_ipvs',
  'ipt_REJECT',
  // nf_tables: kube-proxy's nftables mode, and iptables-nft (the host's default iptables)
  // which needs nft_compat for every xt_ match.
  'nf_tables',
  'nft_chain_nat',
  'nft_ct',
  'nft_fib_ipv4',
  'nft_fib_ipv6',
  'nft_fib_inet',
  'nft_numgen',
  'nft_nat',
  'nft_masq',
  'nft_reject_ipv4',
  'nft_reject_inet',
  'nft_limit',
  'nft_compat',
] as const;

/** A module's canonical name: file basename without `.ko*`, dashes as underscores (as modprobe does). */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|gz|zst))?$/, '').replace(/-/g, '_');
}

/** Parses modules.dep into name -> { path, deps (paths) }. */
export function parseModulesDep(text: string): Map<string, { path: string; deps: string[] }> {
  const out = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter((d) => d !== '');
    out.set(moduleName(path), { path, deps });
  }
  return out;
}

/**
 * The module files (relative to lib/modules/<version>) needed to load `names`, dependencies
 * included. Names that are neither modules nor builtins are returned as `missing`; builtins
 * (listed in modules.builtin) need no file.
 */
export function moduleClosure(
  names: readonly string[],
  dep: Map<string, { path: string; deps: string[] }>,
  builtin: ReadonlySet<string> = new Set(),
): { files: string[]; missing: string[] } {
  const files = new Set<string>();
  const missing: string[] = [];
  for (const raw of names) {
    const name = raw.replace(/-/g, '_');
    const entry = dep.get(name);
    if (!entry) {
      if (!builtin.has(name)) missing.push(name);
      continue;
    }
    files.add(entry.path);
    for (const d of entry.deps) files.add(d);
  }
  return { files: [...files].sort(), missing };
}

/** Parses modules.builtin (one path per line) into module names. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .map(moduleName),
  );
}

const signatureMarker = Buffer.from('~Module signature appended~\n');

/**
 * A module file without its appended signature. Debian signs every module; the kernel checks
 * the signature (sha256 over the whole file) on each load, which under emulation costs more
 * than the load itself. Without enforcement (no Secure Boot lockdown in the VM) an unsigned
 * module loads and merely taints the kernel. Layout: <module><signature><12-byte
 * struct module_signature, sig_len big-endian in its last 4 bytes><marker>.
 */
export function stripModuleSignature(ko: Buffer): Buffer {
  if (ko.length < signatureMarker.length + 12) return ko;
  const markerAt = ko.length - signatureMarker.length;
  if (!ko.subarray(markerAt).equals(signatureMarker)) return ko;
  const sigLen = ko.readUInt32BE(markerAt - 4);
  const end = markerAt - 12 - sigLen;
  return end > 0 ? ko.subarray(0, end) : ko;
}
