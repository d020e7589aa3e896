import type { ExecOptions, ExecResult } from '../exec/index.js';
import { LabError } from '../exec/index.js';
import { iptablesCommands } from '../proxy/iptables/index.js';
import { normaliseIptablesSave } from './iptables-save.js';
import type { NormalisedRuleset } from './lines.js';
import {
  IPVS_SYSCTLS,
  normaliseDummyAddresses,
  normaliseIpsetSave,
  normaliseIpvsadmSave,
  normaliseSysctls,
} from './ipvs-save.js';
import { normaliseNftTable } from './nft-list.js';

type Exec = (file: string, args: readonly string[], opts?: ExecOptions) => Promise<ExecResult>;

/**
 * What one namespace's kernel holds of kube-proxy's, normalised: `iptables-save` and
 * `ip6tables-save` in iptables mode, `nft list table ip kube-proxy` and `... ip6 kube-proxy` in
 * nftables mode (a table that does not exist is an empty ruleset); in IPVS mode the same
 * iptables-save pair plus `ipvsadm -Sn` (and the timeouts), `ipset save`, the kube-ipvs0
 * device's addresses (a node without the device has none) and the sysctls IPVS mode sets. Both
 * sides are read with the same commands, so the comparison is about what the kernels hold, not
 * about who printed it.
 */
export async function readRulesets(
  exec: Exec,
  mode: 'iptables' | 'nftables' | 'ipvs',
  iptablesBackend: 'nft' | 'legacy',
): Promise<NormalisedRuleset[]> {
  if (mode === 'iptables' || mode === 'ipvs') {
    const v4 = iptablesCommands(iptablesBackend).save;
    const v6 = v4.replace(/^iptables/, 'ip6tables');
    const [a, b] = await Promise.all([exec(v4, []), exec(v6, [])]);
    const rules = [normaliseIptablesSave(a.stdout, 'ip'), normaliseIptablesSave(b.stdout, 'ip6')];
    if (mode === 'iptables') return rules;
    const [save, timeouts, sets, sysctls] = await Promise.all([
      exec('ipvsadm', ['-Sn']),
      exec('ipvsadm', ['-Ln', '--timeout']),
      exec('ipset', ['save']),
      // A key the kernel lacks makes sysctl exit non-zero after printing the others.
      exec('sysctl', [...IPVS_SYSCTLS], { allowFailure: true }),
    ]);
    const link = await exec('ip', ['-o', 'link', 'show', 'dev', 'kube-ipvs0'], {
      allowFailure: true,
    });
    const addr = link.ok
      ? (await exec('ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout
      : '';
    return [
      ...rules,
      normaliseIpvsadmSave(save.stdout, timeouts.stdout),
      normaliseIpsetSave(sets.stdout),
      normaliseDummyAddresses(addr, link.ok ? link.stdout : undefined),
      normaliseSysctls(sysctls.stdout),
    ];
  }
  const out: NormalisedRuleset[] = [];
  for (const family of ['ip', 'ip6']) {
    const r = await exec('nft', ['list', 'table', family, 'kube-proxy'], { allowFailure: true });
    if (r.ok) out.push(normaliseNftTable(r.stdout));
    else if (!/No such file or directory/.test(r.stderr))
      throw new LabError(`nft list table ${family} kube-proxy failed: ${r.stderr.trim()}`);
  }
  return out;
}

/** The iptables backend the host's `iptables` is (the one kube-proxy execs). */
export async function hostIptablesBackend(exec: Exec): Promise<'nft' | 'legacy'> {
  const r = await exec('iptables', ['--version'], { allowFailure: true });
  return /nf_tables/.test(r.stdout) ? 'nft' : 'legacy';
}
