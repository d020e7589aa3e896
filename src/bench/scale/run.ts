import { mkdir, readFile, rm } from 'node:fs/promises';
import { join, relative, isAbsolute, resolve } from 'node:path';
import { LabError } from '../../exec/index.js';
import { writeDump } from '../../cluster/dump.js';
import { resolveAccel, runInVm, shouldUseVm } from '../../vm/index.js';
import {
  assertReachable,
  measureDataPath,
  type DataPathResult,
  type ProbeTarget,
} from './datapath.js';
import { environment } from './environment.js';
import { upBenchLab } from './lab.js';
import {
  createScaleProxy,
  isKubeProxyMode,
  kubeProxyModeOf,
  needsIpvs,
  type KubeProxyScaleMode,
  type ScaleMode,
  type SvclabScaleMode,
} from './modes.js';
import { measureKubeProxy } from './kube-proxy-cell.js';
import { DEFAULT_KUBE_VERSION } from '../../kube/versions.js';
import { measureNftBreakdown, probeChainOf, type NftBreakdown } from './nft-breakdown.js';
import { timePlanner } from './planner.js';
import { measureProgramming } from './programming.js';
import {
  programmingOfKubeProxy,
  scaleReportSchema,
  seriesOf,
  summarizeProgramming,
  toRows,
  type Environment,
  type ScaleCell,
  type ScaleOptionsRecord,
  type ScaleReport,
} from './report.js';
import { scaleMutations, scaleState, serviceName, type ScaleStateOptions } from './state.js';
import { RusageContext } from './timed-exec.js';

export const DEFAULT_SERVICES = [1, 1000, 5000, 10000, 20000, 50000];
export const QUICK_MAX_SERVICES = 5000;
export const DEFAULT_BUDGET_SECONDS = 15 * 60;
export const QUICK_BUDGET_SECONDS = 110;
export const TCG_NOTE =
  'IPVS was measured inside the svclab VM under QEMU TCG emulation: absolute numbers are not comparable with the host modes; compare shapes and ratios within the mode.';

export interface ScaleBenchOptions extends ScaleOptionsRecord {
  /** Package root: bin/svclab.js is started from here inside the VM. */
  root: string;
  /** Where the VM part writes its report (must be inside `root`, which the VM shares writable). */
  vmOutDir?: string | undefined;
  onProgress?: ((line: string) => void) | undefined;
}

/** Ratio by which a cell's duration is assumed to grow with N, to skip cells that would not fit. */
const GROWTH_EXPONENT = 1.3;

/**
 * Runs every requested mode at every N within the time budget and returns the report. Modes
 * run one after the other (the machine has two cores: concurrent runs would measure each
 * other). IPVS runs in the svclab VM when the host kernel has no IP_VS.
 */
export async function runScaleBench(o: ScaleBenchOptions): Promise<ScaleReport> {
  const started = Date.now();
  const deadline = started + o.budgetSeconds * 1000;
  const log = o.onProgress ?? (() => undefined);
  const inVm = process.env.SVCLAB_IN_VM === '1';
  const notes: string[] = [];
  const environments: Environment[] = [
    await environment(inVm ? 'vm' : 'host', inVm && resolveAccel(undefined) === 'tcg'),
  ];
  const cells: ScaleCell[] = [];

  const kubeVersions = o.kubeVersions?.length ? o.kubeVersions : [DEFAULT_KUBE_VERSION];
  const vmModes: ScaleMode[] = [];
  const hostSeries: Series[] = [];
  for (const m of o.modes) {
    if (needsIpvs(m) && !inVm && (await shouldUseVm(['ipvs'])).useVm) vmModes.push(m);
    else if (isKubeProxyMode(m))
      for (const kubeVersion of kubeVersions) hostSeries.push({ mode: m, kubeVersion });
    else hostSeries.push({ mode: m });
  }
  // Under TCG every process spawn and lab bring-up is several times slower: the VM part gets
  // 40% of the budget for one mode (more with more modes), the host modes share the rest; a
  // run of VM modes only gets all of it.
  const vmShare =
    vmModes.length === 0
      ? 0
      : hostSeries.length === 0
        ? deadline - Date.now()
        : Math.max(60_000, (deadline - Date.now()) * Math.min(0.8, 0.4 * vmModes.length));
  const hostDeadline = deadline - vmShare;

  // Probes that could not run say so once, not once per cell.
  const note = (n: string) => {
    if (!notes.includes(n)) notes.push(n);
  };
  for (const [i, series] of hostSeries.entries()) {
    const modeDeadline = Date.now() + (hostDeadline - Date.now()) / (hostSeries.length - i);
    cells.push(...(await runMode(series, o, modeDeadline, inVm ? 'vm' : 'host', log, note)));
  }

  if (vmModes.length > 0) {
    const part = await runVmPart(
      { ...o, kubeVersions },
      vmModes,
      Math.max(30, (deadline - Date.now()) / 1000),
      log,
    );
    if (part) {
      environments.push(...part.environments);
      cells.push(...part.cells);
      notes.push(...part.notes.filter((n) => !notes.includes(n)));
    } else {
      for (const m of vmModes)
        for (const kubeVersion of isKubeProxyMode(m) ? kubeVersions : [undefined])
          for (const n of o.services)
            cells.push({
              mode: m,
              ...(kubeVersion ? { kubeVersion } : {}),
              services: n,
              where: 'vm',
              status: 'failed',
              reason: 'the VM part produced no report (see stderr)',
              durationMs: 0,
            });
    }
  }
  if (environments.some((e) => e.where === 'vm' && e.emulated) && !notes.includes(TCG_NOTE))
    notes.push(TCG_NOTE);

  const options: ScaleOptionsRecord = {
    modes: o.modes,
    services: o.services,
    endpoints: o.endpoints,
    nodePortEvery: o.nodePortEvery,
    quick: o.quick,
    budgetSeconds: o.budgetSeconds,
    connections: o.connections,
    iperfSeconds: o.iperfSeconds,
    ...(o.modes.some(isKubeProxyMode) ? { kubeVersions } : {}),
  };
  const report: ScaleReport = {
    schemaVersion: 1,
    benchmark: 'scale',
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    options,
    environments,
    cells,
    rows: toRows(cells, environments),
    notes,
  };
  return report;
}

/** One line of the report: a mode, and for kube-proxy modes the release that runs. */
interface Series {
  mode: ScaleMode;
  kubeVersion?: string | undefined;
}

async function runMode(
  series: Series,
  o: ScaleBenchOptions,
  modeDeadline: number,
  where: 'host' | 'vm',
  log: (l: string) => void,
  note: (n: string) => void,
): Promise<ScaleCell[]> {
  const cells: ScaleCell[] = [];
  const { mode, kubeVersion } = series;
  const label = seriesOf(series);
  const tag = kubeVersion ? { kubeVersion } : {};
  let prev: { services: number; ms: number; cell: ScaleCell } | undefined;
  for (const services of [...o.services].sort((a, b) => a - b)) {
    const predicted = prev ? predictCellMs(prev, services) : 0;
    let reason: string | undefined;
    // A failure at a smaller N (usually a command deadline) only gets worse with more Services.
    if (prev?.cell.status === 'failed') reason = `not run: N=${prev.services} failed`;
    else if (Date.now() >= modeDeadline)
      reason = "not run: this mode's share of the time budget (--budget) is used up";
    else if (Date.now() + predicted > modeDeadline)
      reason = `not run: ${(predicted / 1000).toFixed(0)} s predicted from N=${prev!.services}, over this mode's share of the time budget (--budget)`;
    if (reason) {
      log(`${label} N=${services}: ${reason}`);
      cells.push({ mode, ...tag, services, where, status: 'skipped', reason, durationMs: 0 });
      continue;
    }
    const t0 = Date.now();
    const cellLog = (l: string) => log(`${label} N=${services}: ${l}`);
    let cell: ScaleCell;
    try {
      cell = isKubeProxyMode(mode)
        ? await runKubeProxyCell(
            mode,
            kubeVersion ?? DEFAULT_KUBE_VERSION,
            services,
            o,
            modeDeadline,
            where,
            cellLog,
          )
        : await runCell(mode, services, o, modeDeadline, where, cellLog, note);
    } catch (err) {
      const reason = errorText(err);
      log(`${label} N=${services}: failed: ${reason}`);
      cell = {
        mode,
        ...tag,
        services,
        where,
        status: 'failed',
        reason,
        durationMs: Date.now() - t0,
      };
    }
    cells.push(cell);
    prev = { services, ms: Date.now() - t0, cell };
  }
  return cells;
}

/**
 * How long a cell at `services` will take, from the previous cell of the mode. Lab setup and the
 * data path cost the same at any N; full syncs and planning are assumed to grow like N^1.3,
 * one-Service changes like N (at least one of each kind runs). Below 1,000
 * Services process start-up dominates every sync, so small cells predict nothing.
 */
export function predictCellMs(
  prev: { services: number; ms: number; cell: ScaleCell },
  services: number,
): number {
  const p = prev.cell.programming;
  if (prev.services < 1000 || !p) return 0;
  const r = services / prev.services;
  const k = prev.cell.kubeProxy;
  // kube-proxy: the API load and the cold start (informers listing N objects, then the sync).
  const full = k
    ? k.apiLoad.ms + k.startToFirstSyncMs
    : p.full.ms + 3 * ((prev.cell.planner?.fullMs ?? 0) + (prev.cell.planner?.changeMs ?? 0));
  // Repetitions adapt to the time left, down to one of each kind: predict with one.
  const changes = p.addOne.ms.mean + p.removeOne.ms.mean + p.changeEndpoints.ms.mean;
  return prev.ms + full * (r ** GROWTH_EXPONENT - 1) + changes * (r - 1);
}

function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e && parts.length < 4; e = (e as { cause?: unknown }).cause)
    parts.push(e instanceof Error ? e.message.split('\n')[0]! : String(e));
  const distinct = parts
    .map((t) => t.replace(/\/usr\/bin\/time -f '[^']*' /g, ''))
    .filter((t, i, all) => !all.slice(0, i).some((prev) => prev.includes(t)));
  return distinct.join(': ').slice(0, 500);
}

async function runCell(
  mode: SvclabScaleMode,
  services: number,
  o: ScaleBenchOptions,
  modeDeadline: number,
  where: 'host' | 'vm',
  log: (l: string) => void,
  note: (n: string) => void,
): Promise<ScaleCell> {
  const t0 = Date.now();
  // One more backend than endpoints, so an endpoint change can move to a different set.
  const bench = await upBenchLab({ backends: o.endpoints + 1 });
  try {
    const stateOpts = stateOptionsOf(bench, services, o);
    const base = scaleState(stateOpts);
    const mutations = scaleMutations(stateOpts);
    const node = bench.nodeContext();
    const planner = timePlanner(
      mode,
      node,
      base,
      mutations.changeEndpoints(base, 0),
      services >= 10_000 ? 1 : 3,
    );
    log(
      `planner ${planner.fullMs.toFixed(0)} ms whole, ${planner.changeMs.toFixed(1)} ms after one change`,
    );

    // Commands may run until this mode's share of the budget is used up (at least 60 s).
    const rc = new RusageContext(node, () => modeDeadline);
    const proxy = createScaleProxy(mode, rc.ctx);
    const maxReps = o.quick || where === 'vm' ? 3 : 7;
    const programming = await measureProgramming({
      proxy,
      rc,
      base,
      mutations,
      maxReps,
      // Leave a third of what is left for this cell's data path and the following Ns.
      deadline: () => Date.now() + Math.max(0, (modeDeadline - Date.now()) / 3),
      onProgress: log,
    });

    // Before the data path: the probe's elements are gone again by the time traffic flows.
    // `node`, not rc.ctx: the probe times nft itself, GNU time around it would only add a process.
    let nftBreakdown: NftBreakdown | undefined;
    if (mode.startsWith('nftables')) {
      const r = await measureNftBreakdown({ ctx: node, gotoChain: probeChainOf(base) });
      if ('breakdown' in r) {
        nftBreakdown = r.breakdown;
        const g = r.breakdown.addGoto;
        log(
          `nft process ${g.wallMs.median.toFixed(1)} ms = userspace ${g.userspaceMs.median.toFixed(1)} ms + kernel ${g.kernelMs.median.toFixed(2)} ms (goto); kernel drop ${r.breakdown.addDrop.kernelMs.median.toFixed(2)} ms, delete ${r.breakdown.deleteGoto.kernelMs.median.toFixed(2)} ms`,
        );
      } else {
        log(r.note);
        note(r.cause === 'no-strace' ? r.note : `${mode} at ${services} Services: ${r.note}`);
      }
    }

    const dataPath = await measureTargets(bench, base, services, o, mode, log);
    return {
      mode,
      services,
      where,
      status: 'ok',
      planner,
      programming: summarizeProgramming(programming),
      dataPath,
      nftBreakdown,
      durationMs: Date.now() - t0,
    };
  } catch (err) {
    throw await withDump(bench, err);
  } finally {
    await bench.close();
  }
}

/**
 * A failed cell leaves the lab's diagnostic dump (rules, agent and control-plane logs,
 * kube-proxy's log and metrics, the API objects) before the lab goes, and its reason says where:
 * a 20,000-Service cell that fails after half an hour cannot simply be run again to look.
 */
async function withDump(
  bench: Awaited<ReturnType<typeof upBenchLab>>,
  err: unknown,
): Promise<unknown> {
  const dir = await writeDump(bench.lab, { reason: errorText(err) }).catch(() => undefined);
  return dir ? new LabError(`diagnostic dump in ${dir}`, { cause: err }) : err;
}

/** The N Services of a cell, pointing at the bench lab's backends (the same for every mode). */
function stateOptionsOf(
  bench: Awaited<ReturnType<typeof upBenchLab>>,
  services: number,
  o: ScaleBenchOptions,
): ScaleStateOptions {
  return {
    services,
    endpoints: o.endpoints,
    backends: bench.backends,
    nodePortEvery: o.nodePortEvery,
    serviceBase: '10.96.0.0',
  };
}

/** The data path of talk table 2: the first and the last Service, from the client pod. */
async function measureTargets(
  bench: Awaited<ReturnType<typeof upBenchLab>>,
  base: ReturnType<typeof scaleState>,
  services: number,
  o: ScaleBenchOptions,
  mode: ScaleMode,
  log: (l: string) => void,
): Promise<DataPathResult[]> {
  await bench.startIperf();
  const targets: ProbeTarget[] = [
    { position: 'first', service: serviceName(0), clusterIP: clusterIPOf(base, 0) },
    {
      position: 'last',
      service: serviceName(services - 1),
      clusterIP: clusterIPOf(base, services - 1),
    },
  ];
  const dataPath: DataPathResult[] = [];
  for (const t of targets) {
    const r = await measureDataPath(bench.lab, t, {
      connections: o.connections,
      iperfSeconds: o.iperfSeconds,
    });
    assertReachable(r, mode, services);
    dataPath.push(r);
  }
  log(
    `conn first ${dataPath[0]!.connectMs.median.toFixed(2)} ms, last ${dataPath[1]!.connectMs.median.toFixed(2)} ms; iperf ${dataPath.map((d) => d.throughputGbps?.toFixed(1) ?? 'failed').join(' / ')} Gbit/s`,
  );
  return dataPath;
}

/**
 * The real kube-proxy at one N: a lab with the control plane whose kubelet runs kube-proxy on
 * the node; the same N Services (same ClusterIPs, NodePorts, endpoints) written through the
 * API; the same data path.
 */
async function runKubeProxyCell(
  mode: KubeProxyScaleMode,
  kubeVersion: string,
  services: number,
  o: ScaleBenchOptions,
  modeDeadline: number,
  where: 'host' | 'vm',
  log: (l: string) => void,
): Promise<ScaleCell> {
  const t0 = Date.now();
  const bench = await upBenchLab({
    backends: o.endpoints + 1,
    kubeProxy: { mode: kubeProxyModeOf(mode), version: kubeVersion },
  });
  try {
    const stateOpts = stateOptionsOf(bench, services, o);
    const base = scaleState(stateOpts);
    const cp = bench.lab.controlPlane;
    if (!cp) throw new LabError('the kube-proxy bench lab has no control plane');
    const kubeProxy = await measureKubeProxy({
      cp,
      lab: bench.lab.name,
      nodeIP: bench.lab.topology.nodes[0]!.ip,
      base,
      mutations: scaleMutations(stateOpts),
      maxReps: o.quick || where === 'vm' ? 3 : 7,
      budgetEnd: modeDeadline,
      onProgress: log,
    });
    const dataPath = await measureTargets(bench, base, services, o, mode, log);
    return {
      mode,
      kubeVersion,
      services,
      where,
      status: 'ok',
      programming: programmingOfKubeProxy(kubeProxy),
      dataPath,
      kubeProxy,
      durationMs: Date.now() - t0,
    };
  } catch (err) {
    throw await withDump(bench, err);
  } finally {
    await bench.close();
  }
}

function clusterIPOf(state: ReturnType<typeof scaleState>, i: number): string {
  const name = serviceName(i);
  const sp = state.servicePorts.find((s) => s.service.name === name);
  if (!sp) throw new LabError(`no Service ${name} in the scale state`);
  return sp.service.clusterIP;
}

/** Runs the VM-only modes in the svclab VM (same CLI, inside) and reads its report back. */
async function runVmPart(
  o: ScaleBenchOptions,
  modes: ScaleMode[],
  budgetSeconds: number,
  log: (l: string) => void,
): Promise<ScaleReport | undefined> {
  const root = resolve(o.root);
  const out = resolve(
    o.vmOutDir ?? join(root, 'node_modules', '.cache', `svclab-bench-vm-${process.pid}`),
  );
  const rel = relative(root, out);
  if (rel.startsWith('..') || isAbsolute(rel))
    throw new LabError(
      `the VM part's output ${out} must be inside ${root} (the folder the VM shares writable)`,
    );
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const argv = [
    process.execPath,
    ...process.execArgv.filter((a) => a.startsWith('--stack-size')),
    join(root, 'bin', 'svclab.js'),
    'bench', 'scale',
    '--modes', modes.join(','),
    '--services', o.services.join(','),
    '--endpoints', String(o.endpoints),
    '--node-port-every', String(o.nodePortEvery),
    // Connection latency under TCG measures the emulator; fewer connections keep the VM part short.
    '--connections', String(Math.min(o.connections, 50)),
    '--iperf-seconds', String(o.iperfSeconds),
    // The VM boots within this budget too.
    '--budget', String(Math.max(20, Math.floor(budgetSeconds - 40))),
    '--out', out,
    ...(o.quick ? ['--quick'] : []),
    ...(modes.some(isKubeProxyMode) && o.kubeVersions?.length
      ? ['--kube-version', o.kubeVersions.join(',')]
      : []),
  ]; // prettier-ignore
  log(`running ${modes.join(', ')} in the svclab VM (budget ${budgetSeconds.toFixed(0)} s)`);
  const r = await runInVm({
    command: argv,
    cwd: root,
    timeoutMs: (budgetSeconds + 120) * 1000,
    onOutput: (_s, chunk) => process.stderr.write(chunk),
    log: (l) => log(`vm: ${l}`),
  });
  log(
    `VM: kernel ${r.kernelRelease}, boot ${(r.bootMs / 1000).toFixed(1)} s, bench ${(r.commandMs / 1000).toFixed(0)} s, exit ${r.exitCode}`,
  );
  try {
    const part = scaleReportSchema.parse(
      JSON.parse(await readFile(join(out, 'scale.json'), 'utf8')),
    ) as ScaleReport;
    return part;
  } catch (err) {
    log(`VM part: no usable report in ${out}: ${errorText(err)}`);
    return undefined;
  } finally {
    if (!o.vmOutDir) await rm(out, { recursive: true, force: true });
  }
}
