import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LabError } from '../exec/index.js';
import type { ProxyMode } from '../proxy/types.js';

/** Debian package that provides each tool, for the one-line "what to do" in errors and `svclab doctor`. */
export const TOOL_PACKAGES: Record<string, string> = {
  ip: 'iproute2',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  'iptables-legacy-restore': 'iptables',
  'iptables-nft-restore': 'iptables',
  nft: 'nftables',
  ipset: 'ipset',
  ipvsadm: 'ipvsadm',
  conntrack: 'conntrack',
  sysctl: 'procps',
  'qemu-system-x86_64': 'qemu-system-x86',
  busybox: 'busybox-static',
  iperf3: 'iperf3',
};

/** Finds a program on PATH without spawning anything. */
export function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function toolsForMode(
  mode: ProxyMode | 'none',
  backend: 'nft' | 'legacy' = 'nft',
): string[] {
  const base = ['ip', 'sysctl', 'conntrack'];
  switch (mode) {
    case 'iptables':
      return [...base, backend === 'legacy' ? 'iptables-legacy-restore' : 'iptables-nft-restore'];
    case 'nftables':
      return [...base, 'nft'];
    case 'ipvs':
      return [...base, 'iptables-restore', 'ipset', 'ipvsadm'];
    default:
      return ['ip'];
  }
}

export function aptLine(tools: string[]): string {
  const pkgs = [...new Set(tools.map((t) => TOOL_PACKAGES[t] ?? t))];
  return `apt-get install -y ${pkgs.join(' ')}`;
}

/** IP_VS loaded or loadable, and dummy interfaces (kube-ipvs0) available. */
export function kernelHasIpvs(): boolean {
  const release = (() => {
    try {
      return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    } catch {
      return '';
    }
  })();
  const module = (dir: string, name: string) =>
    ['', '.xz', '.zst', '.gz'].some((ext) =>
      existsSync(`/lib/modules/${release}/kernel/${dir}/${name}.ko${ext}`),
    );
  const ipvs = existsSync('/proc/net/ip_vs') || module('net/netfilter/ipvs', 'ip_vs');
  const dummy = existsSync('/sys/module/dummy') || module('drivers/net', 'dummy');
  return ipvs && dummy;
}

/** One clear line per problem, each with what to do about it. */
export function preflight(opts: {
  mode: ProxyMode | 'none';
  iptablesBackend?: 'nft' | 'legacy';
}): void {
  if (process.getuid?.() !== 0) {
    throw new LabError(
      'svclab needs root to create network namespaces: run it as root (sudo -E svclab ...)',
    );
  }
  const missing = toolsForMode(opts.mode, opts.iptablesBackend).filter((t) => !which(t));
  if (missing.length > 0) {
    throw new LabError(
      `missing tools for --proxy ${opts.mode}: ${missing.join(', ')}; install them with: ${aptLine(missing)}`,
    );
  }
  if (opts.mode === 'ipvs' && !kernelHasIpvs()) {
    throw new LabError(
      'this kernel has no IP_VS (or no dummy interfaces), which --proxy ipvs needs: run the lab in the VM (`svclab vm -- svclab up ... --proxy ipvs`, or `svclab test --proxy ipvs`); `svclab doctor` lists what this host has',
    );
  }
}
