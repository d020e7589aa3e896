/**
 * The sysctls kube-proxy's IPVS mode sets on its node (NewProxier in pkg/proxy/ipvs/proxier.go).
 *
 * - net.ipv4.vs.conntrack=1: keep conntrack entries for IPVS connections, so that the iptables
 *   MASQUERADE rules (KUBE-POSTROUTING) can SNAT them.
 * - net.ipv4.vs.expire_nodest_conn=1: a connection whose real server was deleted is expired on
 *   its next packet instead of being silently blackholed.
 * - net.ipv4.vs.expire_quiescent_template=1: persistence templates (ClientIP affinity) pointing
 *   at a weight-0 real server expire, so affinity does not pin clients to a terminating pod.
 * - net.ipv4.vs.conn_reuse_mode: kube-proxy sets it to 0 on kernels from 4.1 (where it exists)
 *   up to 5.9, because with 1 and conntrack=1 a reused client port hits a 1 s SYN drop
 *   (kubernetes#70747 "IPVS low throughput", fixed by setting 0 in PR 71114); but 0 makes
 *   new connections on a reused port follow the old, possibly deleted, real server
 *   (kubernetes#81775). Linux 5.9 fixed the drop (torvalds/linux 35dfb013149f), so from 5.9 on
 *   kube-proxy leaves the kernel's default 1 (kubernetes#93297).
 * - net.ipv4.ip_forward=1.
 * - net.ipv4.conf.all.arp_ignore=1 / arp_announce=2 only with --ipvs-strict-arp, which is off by
 *   default: with it, nodes stop answering ARP for the VIPs on kube-ipvs0 (what MetalLB's L2
 *   mode needs). Exposed as the `strictARP` option.
 */

export interface KernelVersion {
  major: number;
  minor: number;
}

export function parseKernelRelease(release: string): KernelVersion {
  const m = /^(\d+)\.(\d+)/.exec(release.trim());
  if (!m) throw new Error(`cannot parse kernel release ${JSON.stringify(release.trim())}`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

const atLeast = (v: KernelVersion, major: number, minor: number) =>
  v.major > major || (v.major === major && v.minor >= minor);

export type ConnReuseDecision = 'unsupported' | 'leave' | 'set-0';

export function connReuseDecision(v: KernelVersion): ConnReuseDecision {
  if (!atLeast(v, 4, 1)) return 'unsupported';
  if (atLeast(v, 5, 9)) return 'leave';
  return 'set-0';
}

export interface IpvsSysctls {
  /** `key=value` arguments for one `sysctl -w` call. */
  settings: string[];
  notes: string[];
}

export function ipvsSysctls(
  kernelRelease: string,
  opts: { strictARP?: boolean } = {},
): IpvsSysctls {
  const v = parseKernelRelease(kernelRelease);
  const settings = ['net.ipv4.vs.conntrack=1'];
  const notes: string[] = [];
  switch (connReuseDecision(v)) {
    case 'unsupported':
      notes.push(
        `kernel ${v.major}.${v.minor} < 4.1 has no net.ipv4.vs.conn_reuse_mode; left unset as kube-proxy does`,
      );
      break;
    case 'leave':
      notes.push(
        `kernel ${v.major}.${v.minor} >= 5.9: net.ipv4.vs.conn_reuse_mode left as-is (kubernetes#93297)`,
      );
      break;
    case 'set-0':
      settings.push('net.ipv4.vs.conn_reuse_mode=0');
      notes.push(
        `kernel ${v.major}.${v.minor} < 5.9: net.ipv4.vs.conn_reuse_mode=0 (kubernetes#70747); ` +
          'new connections on a reused source port may follow a deleted real server (kubernetes#81775)',
      );
      break;
  }
  settings.push(
    'net.ipv4.vs.expire_nodest_conn=1',
    'net.ipv4.vs.expire_quiescent_template=1',
    'net.ipv4.ip_forward=1',
  );
  if (opts.strictARP)
    settings.push('net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2');
  return { settings, notes };
}
