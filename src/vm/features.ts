import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { run } from '../exec/index.js';

/** Kernel features labs depend on, as suites name them in `requiredFeatures`. */
export const kernelFeatureNames = [
  'ipvs',
  'dummy',
  'netem',
  'conntrackNetlink',
  'nftables',
  'ipset',
  'xtRecent',
  'xtStatistic',
] as const;
export type KernelFeature = (typeof kernelFeatureNames)[number];

export interface FeatureStatus {
  available: boolean;
  /** How we know, e.g. "/proc/net/ip_vs exists" or "CONFIG_DUMMY is not set". */
  evidence: string;
}
export type KernelFeatures = Record<KernelFeature, FeatureStatus>;

/** Where each module-backed feature shows itself: config symbol, module, live file. */
export const featureProbes: Record<
  Exclude<KernelFeature, 'conntrackNetlink'>,
  { config: string; module: string; live: string }
> = {
  ipvs: { config: 'CONFIG_IP_VS', module: 'ip_vs', live: '/proc/net/ip_vs' },
  dummy: { config: 'CONFIG_DUMMY', module: 'dummy', live: '/sys/module/dummy' },
  netem: { config: 'CONFIG_NET_SCH_NETEM', module: 'sch_netem', live: '/sys/module/sch_netem' },
  nftables: { config: 'CONFIG_NF_TABLES', module: 'nf_tables', live: '/sys/module/nf_tables' },
  ipset: { config: 'CONFIG_IP_SET', module: 'ip_set', live: '/sys/module/ip_set' },
  xtRecent: {
    config: 'CONFIG_NETFILTER_XT_MATCH_RECENT',
    module: 'xt_recent',
    live: '/sys/module/xt_recent',
  },
  xtStatistic: {
    config: 'CONFIG_NETFILTER_XT_MATCH_STATISTIC',
    module: 'xt_statistic',
    live: '/sys/module/xt_statistic',
  },
};

/** Parses a kernel .config (/proc/config.gz inflated): symbol -> 'y' | 'm' | value; unset symbols -> 'n'. */
export function parseKernelConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set) {
      out.set(set[1]!, set[2]!.replace(/^"(.*)"$/, '$1'));
      continue;
    }
    const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (unset) out.set(unset[1]!, 'n');
  }
  return out;
}

export interface FeatureEvidence {
  /** The feature is in use right now (its /proc or /sys entry exists). */
  live: boolean;
  /** The config symbol's value, or undefined when the kernel config cannot be read. */
  config: string | undefined;
  /** Whether `modprobe -n <module>` found the module; undefined if not asked. */
  modprobe: boolean | undefined;
}

/** Turns what was seen into a verdict. Pure, so the ladder is unit-tested. */
export function decideFeature(
  probe: { config: string; module: string; live: string },
  e: FeatureEvidence,
): FeatureStatus {
  if (e.live) return { available: true, evidence: `${probe.live} exists` };
  if (e.config === 'y') return { available: true, evidence: `${probe.config}=y` };
  if (e.config === 'm') {
    return e.modprobe
      ? { available: true, evidence: `${probe.config}=m and module ${probe.module} is installed` }
      : {
          available: false,
          evidence: `${probe.config}=m but module ${probe.module} is not installed`,
        };
  }
  if (e.config !== undefined) return { available: false, evidence: `${probe.config} is not set` };
  return e.modprobe
    ? { available: true, evidence: `modprobe -n ${probe.module} succeeded` }
    : {
        available: false,
        evidence: `no kernel config to read and modprobe -n ${probe.module} failed`,
      };
}

/** What `conntrack -L` in a throwaway namespace says about conntrack over netlink. */
export function decideConntrackNetlink(
  r: { exitCode: number | undefined; stderr: string } | 'missing',
): FeatureStatus {
  if (r === 'missing')
    return { available: false, evidence: 'conntrack (conntrack-tools) is not installed' };
  if (r.exitCode === 0) return { available: true, evidence: 'conntrack -L succeeded' };
  const why = r.stderr.trim().split('\n').pop() ?? '';
  return { available: false, evidence: `conntrack -L failed${why ? `: ${why}` : ''}` };
}

async function readKernelConfig(): Promise<Map<string, string> | undefined> {
  try {
    return parseKernelConfig(gunzipSync(await readFile('/proc/config.gz')).toString('utf8'));
  } catch {
    return undefined;
  }
}

async function modprobeDryRun(module: string): Promise<boolean> {
  const r = await run('modprobe', ['-n', module], { allowFailure: true, timeoutMs: 10_000 }).catch(
    () => undefined,
  );
  return r?.ok ?? false;
}

let memo: Promise<KernelFeatures> | undefined;

/**
 * Detects, without changing anything on the host, which features the running kernel has.
 * Nothing is created in the root network namespace: the conntrack probe runs in an
 * anonymous namespace (`unshare --net`) that disappears with the process. Memoized.
 */
export function hostKernelFeatures(): Promise<KernelFeatures> {
  memo ??= detect();
  return memo;
}

async function detect(): Promise<KernelFeatures> {
  const config = await readKernelConfig();
  const entries = await Promise.all(
    Object.entries(featureProbes).map(async ([name, probe]) => {
      const live = existsSync(probe.live);
      const c = config ? (config.get(probe.config) ?? 'n') : undefined;
      const needModprobe = !live && (c === 'm' || c === undefined);
      const modprobe = needModprobe ? await modprobeDryRun(probe.module) : undefined;
      return [name, decideFeature(probe, { live, config: c, modprobe })] as const;
    }),
  );
  const ct = await run('unshare', ['--net', 'conntrack', '-L'], {
    allowFailure: true,
    timeoutMs: 10_000,
  }).catch(() => undefined);
  const conntrackNetlink = decideConntrackNetlink(
    ct === undefined || (ct.exitCode === 127 && /not found|No such file/i.test(ct.stderr))
      ? 'missing'
      : ct,
  );
  return {
    ...(Object.fromEntries(entries) as Omit<KernelFeatures, 'conntrackNetlink'>),
    conntrackNetlink,
  };
}

export type VmMode = 'auto' | 'always' | 'never';

export interface VmDecision {
  useVm: boolean;
  mode: VmMode;
  /** Required features the host kernel lacks. */
  missing: KernelFeature[];
  reason: string;
}

/** Reads SVCLAB_VM (default auto). */
export function vmMode(env: Readonly<Record<string, string | undefined>>): VmMode {
  const v = (env.SVCLAB_VM ?? 'auto').trim().toLowerCase() || 'auto';
  if (v === 'auto' || v === 'always' || v === 'never') return v;
  throw new Error(`SVCLAB_VM must be auto, always or never, not "${env.SVCLAB_VM}"`);
}

/**
 * Whether a suite that needs `required` should run inside the VM. Pure: the host features
 * come in. `never` never uses the VM (the caller skips what the host cannot do), `always`
 * always does, `auto` does when the host lacks something required. Inside the VM itself
 * (SVCLAB_IN_VM=1) the answer is always no.
 */
export function decideVm(
  required: readonly KernelFeature[],
  env: Readonly<Record<string, string | undefined>>,
  features: KernelFeatures,
): VmDecision {
  const mode = vmMode(env);
  const missing = required.filter((f) => !features[f].available);
  const lacks = missing.map((f) => `${f} (${features[f].evidence})`).join(', ');
  if (env.SVCLAB_IN_VM === '1')
    return { useVm: false, mode, missing, reason: 'already inside the svclab VM' };
  if (mode === 'never')
    return {
      useVm: false,
      mode,
      missing,
      reason: missing.length ? `SVCLAB_VM=never; host lacks ${lacks}` : 'SVCLAB_VM=never',
    };
  if (mode === 'always') return { useVm: true, mode, missing, reason: 'SVCLAB_VM=always' };
  return missing.length
    ? { useVm: true, mode, missing, reason: `host kernel lacks ${lacks}` }
    : { useVm: false, mode, missing, reason: 'host kernel has every required feature' };
}

/** decideVm with the host's detected features. */
export async function shouldUseVm(
  required: readonly KernelFeature[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<VmDecision> {
  return decideVm(required, env, await hostKernelFeatures());
}
