import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import type { Lab } from '../cluster/lab.js';
import type { ControlPlane } from '../controlplane/handle.js';
import { proxyStateFromApi, proxyStateKey } from '../controlplane/objects.js';
import { LabError } from '../exec/index.js';
import { kubeOptionsFromEnv, type KubeBinariesOptions } from '../kube/binaries.js';
import { topologyFromObject } from '../model/load.js';
import type { Topology } from '../model/types.js';
import { NetnsProvider } from '../netns/provider.js';
import { createIptablesProxy } from '../proxy/iptables/index.js';
import { createIpvsProxy } from '../proxy/ipvs/index.js';
import { createNftablesProxy } from '../proxy/nftables/index.js';
import type { NodeProxy, ProxyState } from '../proxy/types.js';
import { indexServicePorts, UNATTRIBUTED } from './attribute.js';
import { clusterIPLag, lagReason } from './cluster-ips.js';
import { plannerSettings } from './config.js';
import { compareRulesets, type FidelityMode } from './diff.js';
import { generateServiceSets } from './generate.js';
import type { NormalisedRuleset } from './lines.js';
import { hostIptablesBackend, readRulesets } from './read.js';
import type { ModeRun } from './report.js';
import { createTwin } from './twin.js';

export const FIDELITY_MODES = ['iptables', 'nftables', 'ipvs'] as const;

export interface FidelityOptions {
  /** Absolute path of the topology file. */
  topologyFile: string;
  modes: readonly FidelityMode[];
  /** The node compared (its kube-proxy against svclab's planner in its twin). */
  node: string;
  /**
   * Generated Service sets instead of the topology's own Services: `count` sets from set number
   * `from` on (default 1). The sets before it are drawn and not applied, so set #n is the same
   * whichever run compares it, and a long run can be made in parts (`--merge-into`).
   */
  random?: { seed: number; count: number; from?: number | undefined } | undefined;
  kube?: KubeBinariesOptions | undefined;
  onProgress?: ((line: string) => void) | undefined;
}

export interface FidelityRun {
  kubeVersion: string;
  runs: ModeRun[];
}

/** The Service sets to compare: the topology's own, or generated ones over its pods. */
export async function fidelitySources(
  opts: Pick<FidelityOptions, 'topologyFile' | 'random'>,
): Promise<{ label: string; topology: Topology }[]> {
  const doc = parse(await readFile(opts.topologyFile, 'utf8')) as {
    spec?: Record<string, unknown>;
  };
  if (!opts.random)
    return [{ label: basename(opts.topologyFile), topology: topologyFromObject(doc) }];
  const base = topologyFromObject(doc);
  const skip = (opts.random.from ?? 1) - 1;
  return generateServiceSets({
    seed: opts.random.seed,
    count: skip + opts.random.count,
    serviceSubnet: base.networking.serviceSubnet,
    pods: base.pods,
  })
    .slice(skip)
    .map((set) => ({
      label: set.label,
      topology: topologyFromObject({ ...doc, spec: { ...doc.spec, services: set.services } }),
    }));
}

/**
 * For each mode: a netns lab of the topology with the control plane and the real kube-proxy in
 * that mode on every node, and a twin namespace of one node. For each Service set (the
 * topology's, or each generated one applied through the API), once kube-proxy has synced it:
 * the Services and EndpointSlices kube-proxy read, from the API, go to svclab's planner in the
 * twin, and both kernels' rules are compared. The lab (and with it the twin) is always removed.
 */
export async function runFidelity(opts: FidelityOptions): Promise<FidelityRun> {
  const progress = opts.onProgress ?? (() => undefined);
  const sets = await fidelitySources(opts);
  const first = sets[0]!.topology;
  if (!first.nodes.some((n) => n.name === opts.node))
    throw new LabError(
      `--node: no node "${opts.node}" in ${opts.topologyFile} (have: ${first.nodes.map((n) => n.name).join(', ')})`,
    );
  const provider = new NetnsProvider();
  const runs: ModeRun[] = [];
  let kubeVersion = '';
  for (const mode of opts.modes) {
    progress(`${mode}: bringing up ${first.name} with the control plane and kube-proxy (${mode})`);
    const lab = await provider.up(structuredClone(first), {
      name: `fid-${mode.slice(0, 3)}-${process.pid.toString(36)}`,
      proxy: 'none',
      controlPlane: true,
      // Only the compared node's rules are read, and they depend on the API alone: the other
      // nodes run no kube-proxy, which in the VM (two emulated CPUs) takes two thirds of the
      // syncs off every change.
      kubeProxy: { mode, nodes: [opts.node] },
      kube: opts.kube ?? kubeOptionsFromEnv(),
      progress: 'silent',
      ephemeral: true,
      topologyFile: opts.topologyFile,
    });
    try {
      const cp = lab.controlPlane!;
      kubeVersion = cp.record.version;
      runs.push(await compareMode(lab, cp, mode, opts.node, sets, progress));
    } finally {
      const down = await lab.down();
      if (down.errors.length > 0)
        progress(`${mode}: removing lab ${lab.name}: ${down.errors.join('; ')}`);
    }
  }
  return { kubeVersion, runs };
}

async function compareMode(
  lab: Lab,
  cp: ControlPlane,
  mode: FidelityMode,
  node: string,
  sets: { label: string; topology: Topology }[],
  progress: (line: string) => void,
): Promise<ModeRun> {
  const backend = await hostIptablesBackend((f, a, o) => lab.backend.exec(node, f, a, o));
  const config = await readFile(join(cp.files.dir, 'kube-proxy', `${node}.yaml`), 'utf8');
  const ctx = lab.backend.nodeContext(node);
  const settings = plannerSettings(config, mode, ctx);
  const run: ModeRun = {
    mode,
    lab: lab.name,
    configuration: [
      ...settings.described,
      ...(mode !== 'nftables' ? [`iptables backend ${backend}`] : []),
    ],
    sources: [],
    notes: [],
  };
  await using twin = await createTwin(lab, node);
  if (mode === 'ipvs') {
    // IPVS mode makes NodePort virtual servers on every address of the node but kube-ipvs0's:
    // the twin gets the node's addresses, so that svclab's planner reads the same ones.
    const addresses = nodeAddresses(
      (await lab.backend.exec(node, 'ip', ['-o', '-4', 'addr', 'show'])).stdout,
    );
    await twin.addAddresses(addresses);
    run.configuration.push(`node addresses ${addresses.join(', ')} (a dummy device in the twin)`);
  }
  const proxy: NodeProxy =
    mode === 'iptables'
      ? createIptablesProxy(twin.ctx, { ...settings.proxyOptions, iptablesBackend: backend })
      : mode === 'ipvs'
        ? createIpvsProxy(twin.ctx, {
            ...settings.proxyOptions,
            ...settings.ipvs,
            iptablesBackend: backend,
          })
        : createNftablesProxy(twin.ctx, settings.proxyOptions, settings.nftables);
  await proxy.install();

  for (const [i, set] of sets.entries()) {
    const took = stopwatch();
    if (i > 0) {
      progress(
        `${mode}: ${set.label}: applying ${set.topology.services.length} Services through the API`,
      );
      // `settled` below waits for the sync that follows everything it read from the API. Only
      // nftables needs the update's own sync to have ended first (untilStaleChainsDeletable).
      await lab.update((t) => void (t.services = set.topology.services), {
        sync: mode === 'nftables',
      });
      if (mode === 'nftables') await untilStaleChainsDeletable(Date.now());
      took.lap('API update');
    }
    const { state, kubeProxy, lagged } = await settled(
      lab,
      cp,
      () => readRulesets((f, a, o) => lab.backend.exec(node, f, a, o), mode, backend),
      (s, kernel) => lagReason(clusterIPLag(s, kernel, ctx.serviceCIDR)),
      took,
    );
    // Said in the report: a difference that remains after it is the rules', not the fence's.
    lagged.forEach((why, n) =>
      run.notes.push(
        n < MAX_LAG_FENCES
          ? `${set.label}: kube-proxy's kernel was read before its sync of the set had ended (${why}); read again after another sync fence`
          : `${set.label}: kube-proxy's kernel still differed from the state's ClusterIPs after ${MAX_LAG_FENCES} more sync fences (${why}); compared as read`,
      ),
    );
    await proxy.sync(state, { full: i === 0 });
    took.lap('planner');
    const svclab = await readRulesets(twin.ctx.exec, mode, backend);
    took.lap('kernel reads');
    await dumpLines(mode, i, { 'kube-proxy': kubeProxy, svclab });
    const index = indexServicePorts(state);
    const comparisons = compareRulesets({ mode, index, kubeProxy, svclab });
    run.sources.push({ source: set.label, comparisons });
    const bad = comparisons.filter((c) => c.status === 'different').length;
    progress(
      `${mode}: ${set.label}: ${comparisons.length} compared, ${bad} with undeclared differences (${took.laps()})`,
    );
    if (comparisons.some((c) => c.servicePort === UNATTRIBUTED))
      run.notes.push(
        `${set.label}: lines of no Service port in the state (for example svclab's sync fence, an ExternalName Service, which neither proxy programs) were found`,
      );
  }
  return run;
}

/**
 * Where a set's time went, for the progress line: the API update and the controllers, kube-proxy's
 * sync with the reads around it (`settled`), svclab's planner in the twin, and reading the twin.
 */
function stopwatch(): { lap: (what: string) => void; laps: () => string } {
  let last = Date.now();
  // Summed per name, in the order first seen (`settled` may read the API and the kernel again).
  const laps = new Map<string, number>();
  return {
    lap: (what) => {
      const now = Date.now();
      laps.set(what, (laps.get(what) ?? 0) + now - last);
      last = now;
    },
    laps: () => [...laps].map(([what, ms]) => `${what} ${(ms / 1000).toFixed(1)} s`).join(', '),
  };
}

/**
 * SVCLAB_FIDELITY_DUMP=<dir>: both sides' normalised lines per mode and source, for looking into
 * a difference beyond the report's first lines.
 */
async function dumpLines(
  mode: FidelityMode,
  source: number,
  sides: Record<string, NormalisedRuleset[]>,
): Promise<void> {
  const dir = process.env.SVCLAB_FIDELITY_DUMP;
  if (!dir) return;
  await mkdir(dir, { recursive: true });
  for (const [side, rulesets] of Object.entries(sides))
    await writeFile(
      join(dir, `${mode}-${source}-${side}.txt`),
      rulesets.flatMap((r) => r.lines.map((l) => l.text)).join('\n') + '\n',
    );
}

/**
 * The node's IPv4 addresses with their prefix (`10.0.0.2/24`) from `ip -o -4 addr show`, but
 * loopback's and kube-ipvs0's (kube-proxy's GetAllLocalAddressesExcept(kube-ipvs0), loopback left
 * out).
 */
export function nodeAddresses(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+(\S+)/.exec(line);
    if (!m || m[1] === 'kube-ipvs0' || m[1] === 'lo' || m[2]!.startsWith('127.')) continue;
    if (!out.includes(m[2]!)) out.push(m[2]!);
  }
  return out;
}

/**
 * kube-proxy's nftables mode only flushes the chains of a Service port that went away, and deletes
 * them in a sync that starts more than a second after the one that flushed them
 * (pkg/proxy/nftables/proxier.go, syncProxyRules' staleChains: before kernel 6.2 the kernel does
 * not see at once that a chain a deleted map element pointed to is unreferenced). svclab's planner
 * deletes them in its own next transaction. What is compared is the state both settle in: the
 * update's sync (which flushed them) ended by `flushedBy`; once this has waited out the second, the
 * sync `settled` triggers is one that deletes them.
 */
async function untilStaleChainsDeletable(flushedBy: number): Promise<void> {
  const left = flushedBy + STALE_CHAIN_AGE_MS - Date.now();
  if (left > 0) await sleep(left);
}

/** How many more sync fences a kernel read that lags the state gets (see `settled`). */
const MAX_LAG_FENCES = 2;

/** kube-proxy deletes a stale chain flushed before its sync's start minus one second (strictly). */
const STALE_CHAIN_AGE_MS = 1_010;

/**
 * The API's Services and EndpointSlices, once kube-proxy has synced them, and what the node's
 * kernel holds then: the state is read, kube-proxy's sync after it is waited for (svclab's fence),
 * the kernel is read, and the state is read again; if it moved in between (the EndpointSlice
 * controller was still at work), again. So again, up to twice, when `lag` says the kernel read was
 * still short of the state (`lagged` names each time, for the report; a third entry means the last
 * read, the one compared, still was).
 */
async function settled<T>(
  lab: Lab,
  cp: ControlPlane,
  readKernel: () => Promise<T>,
  lag: (state: ProxyState, kernel: T) => string | undefined,
  took: ReturnType<typeof stopwatch>,
): Promise<{ state: ProxyState; kubeProxy: T; lagged: string[] }> {
  const lagged: string[] = [];
  const apiState = async () => {
    const [services, slices] = await Promise.all([
      cp.api().list('/api/v1/services'),
      cp.api().list('/apis/discovery.k8s.io/v1/endpointslices'),
    ]);
    return proxyStateFromApi(services.items, slices.items);
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await apiState();
    took.lap('API reads');
    await lab.sync();
    took.lap('kube-proxy sync');
    const kubeProxy = await readKernel();
    took.lap('kernel reads');
    const after = await apiState();
    took.lap('API reads');
    if (proxyStateKey(before) !== proxyStateKey(after)) continue;
    // A kernel still short of the state's ClusterIPs was read before kube-proxy's sync of it
    // ended (cluster-ips.ts): fence again. Twice at most: what stays after that is compared.
    const why = lag(after, kubeProxy);
    if (why !== undefined) lagged.push(why);
    if (why === undefined || lagged.length > MAX_LAG_FENCES)
      return { state: after, kubeProxy, lagged };
  }
  throw new LabError(
    'the Services and EndpointSlices in the API kept changing; nothing was compared',
  );
}
