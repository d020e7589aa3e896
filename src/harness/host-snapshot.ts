import { readFile } from 'node:fs/promises';
import { run } from '../exec/index.js';
import { which } from '../cluster/preflight.js';

/**
 * What a lab must never change in the host's root network namespace: interfaces, addresses,
 * routes, iptables (both backends), nftables, ipsets and the sysctls a Service proxy would touch.
 * Counters are stripped so traffic alone does not count as a change.
 */
export async function hostNetworkSnapshot(): Promise<Record<string, string>> {
  const cmd = async (file: string, args: string[]) => {
    if (!which(file)) return `(${file} not installed)`;
    const r = await run(file, args, { allowFailure: true });
    return r.stdout + (r.exitCode === 0 ? '' : `(exit ${r.exitCode}: ${r.stderr.trim()})`);
  };
  const sysctl = async (path: string) =>
    (await readFile(`/proc/sys/${path}`, 'utf8').catch(() => '(absent)\n')).trim();
  const stripCounters = (s: string) =>
    s
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]'))
      .join('\n');
  return {
    links: (await cmd('ip', ['-o', 'link', 'show'])).replace(/\\\s+link\/ether.*/g, ''),
    addresses: await cmd('ip', ['-o', 'addr', 'show']),
    routes: await cmd('ip', ['route', 'show', 'table', 'all']),
    'iptables-nft': stripCounters(await cmd('iptables-save', [])),
    'iptables-legacy': stripCounters(await cmd('iptables-legacy-save', [])),
    nftables: (await cmd('nft', ['list', 'ruleset'])).replace(
      /counter packets \d+ bytes \d+/g,
      'counter',
    ),
    ipsets: await cmd('ipset', ['list', '-n']),
    sysctls: (
      await Promise.all(
        [
          'net/ipv4/ip_forward',
          'net/ipv4/conf/all/route_localnet',
          'net/ipv4/conf/all/rp_filter',
          'net/ipv4/conf/default/rp_filter',
        ].map(async (p) => `${p}=${await sysctl(p)}`),
      )
    ).join('\n'),
  };
}

/** Sections that differ, with both versions, or an empty list. */
export function diffSnapshots(
  before: Record<string, string>,
  after: Record<string, string>,
): string[] {
  return Object.keys(before)
    .filter((k) => before[k] !== after[k])
    .map((k) => `host ${k} changed:\n--- before\n${before[k]}\n--- after\n${after[k]}`);
}
