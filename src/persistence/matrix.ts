import { release } from 'node:os';
import { join } from 'node:path';
import { machineInfo } from '../bench/machine.js';
import type { Lab } from '../cluster/lab.js';
import { getProvider } from '../cluster/providers.js';
import { packageRoot } from '../cli/package-root.js';
import { missingRequirement } from '../harness/requirements.js';
import { loadTopology } from '../model/index.js';
import type { ProxyOptions } from '../proxy/types.js';
import { eventSkipReason, isDestructive, selectEvents, type PersistenceEvent } from './events.js';
import { DEFAULT_WATCH, fixedPorts, type WatchOptions } from './flows.js';
import { KNOWN_BUGS, runKnownBug, type KnownBugCase, type KnownBugResult } from './known-bugs.js';
import { baselineOf } from './lab-state.js';
import { MATRIX_MODES, modeConfig, type MatrixMode } from './modes.js';
import { runEvent, type EventResult } from './scenario.js';

let labCounter = 0;

/** Short, unique per process and call (lab names end up in namespace names). */
function matrixLabName(): string {
  return `pm-${process.pid.toString(36)}-${(labCounter++).toString(36)}`;
}

export interface ModeReport {
  mode: MatrixMode;
  /**
   * Which build of the real kube-proxy (a release, or a binary's path) when the matrix compares
   * several; the column is then `<mode>@<variant>`. Absent for a single build.
   */
  variant?: string | undefined;
  /** The real kube-proxy's release (the control plane's too) for kube-proxy modes. */
  kubeVersion?: string | undefined;
  /** The kube-proxy binary that ran, for kube-proxy modes. */
  kubeProxyBinary?: string | undefined;
  proxy: string;
  proxyOptions: ProxyOptions;
  /** Kernel release the mode was measured on (the VM's for modes run through the VM). */
  kernel: string;
  where: 'host' | 'vm';
  /** `skipped`: could not run here (reason says why); `ran`: see events (some may have failed). */
  status: 'ran' | 'skipped';
  reason?: string | undefined;
  events: EventResult[];
  /** Events that could not be measured (a flow would not open, a sync failed), with the error. */
  failures: { event: string; error: string }[];
  /** Events this lab cannot run (Lab.cannot), with the reason; absent in older reports. */
  skippedEvents?: { event: string; reason: string }[] | undefined;
  knownBugs: KnownBugResult[];
  /** Bring-up time of each lab the mode used (a destructive event needs a fresh one). */
  labUpMs: number[];
  durationMs: number;
}

export interface MatrixReport {
  apiVersion: 'svclab.dev/v1alpha1';
  kind: 'PersistenceMatrix';
  generatedAt: string;
  machine: ReturnType<typeof machineInfo>;
  topology: string;
  watch: WatchOptions;
  events: { id: string; title: string }[];
  knownBugs: {
    id: string;
    issues: number[];
    title: string;
    modes?: readonly string[] | undefined;
  }[];
  modes: ModeReport[];
}

/** One build of the real kube-proxy to run the kube-proxy modes with (`--kube-version`, `--kube-proxy-binary`). */
export interface KubeProxyVariant {
  /** Column suffix: the release or the binary's path, as given. */
  label: string;
  kubeVersion?: string | undefined;
  kubeProxyBinary?: string | undefined;
}

export interface MatrixOptions {
  modes: MatrixMode[];
  /**
   * Builds of the real kube-proxy: each kube-proxy mode runs once per variant (two variants make
   * the version comparison). Default: one, the pinned release.
   */
  variants?: KubeProxyVariant[] | undefined;
  /** Event ids; default all. */
  events?: string[] | undefined;
  /** Topology file; default topologies/persistence.yaml. */
  topologyFile?: string | undefined;
  /** Run the known-bug cases too. Default true. */
  knownBugs?: boolean | undefined;
  watch?: Partial<WatchOptions> | undefined;
  provider?: string | undefined;
  onProgress?: ((line: string) => void) | undefined;
}

export function defaultTopologyFile(): string {
  return join(packageRoot(), 'topologies', 'persistence.yaml');
}

export function emptyReport(o: {
  topologyFile: string;
  events: PersistenceEvent[];
  watch: WatchOptions;
}): MatrixReport {
  return {
    apiVersion: 'svclab.dev/v1alpha1',
    kind: 'PersistenceMatrix',
    generatedAt: new Date().toISOString(),
    machine: machineInfo(),
    topology: o.topologyFile,
    watch: o.watch,
    events: o.events.map((e) => ({ id: e.id, title: e.title })),
    knownBugs: KNOWN_BUGS.map((b) => ({
      id: b.id,
      issues: b.issues,
      title: b.title,
      modes: b.modes,
    })),
    modes: [],
  };
}

/**
 * Runs the matrix on this kernel: per mode one lab, every event on it (the topology restored in
 * between), the known-bug cases, then destructive events, each on a fresh lab if more follow.
 * A mode that cannot run here is reported `skipped` with the reason.
 */
export async function runMatrix(o: MatrixOptions): Promise<MatrixReport> {
  const topologyFile = o.topologyFile ?? defaultTopologyFile();
  const events = selectEvents(o.events);
  const watch = { ...DEFAULT_WATCH, ...o.watch };
  const report = emptyReport({ topologyFile, events, watch });
  const variants = o.variants?.length ? o.variants : [undefined];
  for (const mode of o.modes) {
    const perVariant = modeConfig(mode).kubeProxy ? variants : [undefined];
    for (const variant of perVariant)
      report.modes.push(await runMode(mode, variant, { ...o, topologyFile, watch }, events));
  }
  return report;
}

/** A column's name: the mode, and the kube-proxy build when the matrix compares several. */
export function columnOf(m: Pick<ModeReport, 'mode' | 'variant'>): string {
  return m.variant ? `${m.mode}@${m.variant}` : m.mode;
}

async function runMode(
  mode: MatrixMode,
  variant: KubeProxyVariant | undefined,
  o: MatrixOptions & { topologyFile: string; watch: WatchOptions },
  events: PersistenceEvent[],
): Promise<ModeReport> {
  const started = performance.now();
  const { kubeProxy, ...cfg } = modeConfig(mode);
  const provider = o.provider ?? 'netns';
  const column = columnOf({ mode, variant: variant?.label });
  const log = (line: string) => o.onProgress?.(`${column}: ${line}`);
  const report: ModeReport = {
    mode,
    ...(variant ? { variant: variant.label } : {}),
    ...cfg,
    kernel: release(),
    where: process.env.SVCLAB_IN_VM ? 'vm' : 'host',
    status: 'ran',
    events: [],
    failures: [],
    knownBugs: [],
    labUpMs: [],
    durationMs: 0,
  };
  const skip = missingRequirement({
    provider,
    proxy: cfg.proxy,
    proxyOptions: cfg.proxyOptions,
    controlPlane: kubeProxy !== undefined,
    kubeProxy: kubeProxy && { ...kubeProxy, binary: variant?.kubeProxyBinary },
    label: column,
  });
  if (skip) {
    log(`skipped: ${skip}`);
    return { ...report, status: 'skipped', reason: skip };
  }
  const topology = await loadTopology(o.topologyFile);
  const up = async (): Promise<Lab> => {
    const t0 = performance.now();
    const lab = await (
      await getProvider(provider)
    ).up(structuredClone(topology), {
      name: matrixLabName(),
      proxy: kubeProxy ? 'none' : cfg.proxy,
      proxyOptions: cfg.proxyOptions,
      progress: 'silent',
      ephemeral: true,
      // The real kube-proxy watches the lab's API server: the events go through the API.
      ...(kubeProxy
        ? {
            controlPlane: true,
            kubeProxy: { ...kubeProxy, binary: variant?.kubeProxyBinary },
            kube: { version: variant?.kubeVersion },
          }
        : {}),
    });
    report.labUpMs.push(Math.round(performance.now() - t0));
    const cp = lab.controlPlane?.record;
    if (cp?.kubeProxy) {
      report.kubeVersion = cp.version;
      report.kubeProxyBinary = cp.kubeProxy.binary;
    }
    return lab;
  };
  // With a control plane some events cannot be undone through the API (events.ts).
  const where = { controlPlane: kubeProxy !== undefined };
  const steps: ({ event: PersistenceEvent } | { bug: KnownBugCase })[] = [
    ...events.filter((e) => !isDestructive(e, where)).map((event) => ({ event })),
    ...(o.knownBugs === false ? [] : KNOWN_BUGS.map((bug) => ({ bug }))),
    ...events.filter((e) => isDestructive(e, where)).map((event) => ({ event })),
  ];
  let lab = await up();
  const baseline = baselineOf(lab.topology);
  try {
    for (const [i, step] of steps.entries()) {
      // Distinct fixed ports per step: a UDP conntrack entry (30-120 s) or an IPVS connection
      // entry (TIME_WAIT, 120 s) of one step must not steer the next.
      const ports = fixedPorts(i);
      let dirty = false;
      if ('event' in step) {
        const why = eventSkipReason(lab, step.event);
        if (why) {
          (report.skippedEvents ??= []).push({ event: step.event.id, reason: why });
          log(`${step.event.id}: skipped: ${why}`);
          continue;
        }
        try {
          const r = await runEvent(lab, step.event, {
            baseline,
            udpSourcePort: ports.udpSourcePort,
            watch: o.watch,
          });
          report.events.push(r);
          log(
            `${r.event}: ${r.flows.stream.outcome} / ${r.flows.conn.outcome} / ${r.flows.udp.outcome}; update ${r.updateMs} ms, first new connection ${r.newConnection.ok ? `${r.newConnection.firstOkMs} ms after it` : 'none'}`,
          );
        } catch (err) {
          report.failures.push({ event: step.event.id, error: errorText(err) });
          log(`${step.event.id}: failed: ${errorText(err)}`);
          dirty = true;
        }
        dirty ||= isDestructive(step.event, where);
      } else {
        try {
          const r = await runKnownBug(lab, step.bug, { baseline, ...ports, watch: o.watch });
          report.knownBugs.push(r);
          log(`${r.id} (${r.issues.map((n) => `#${n}`).join(', ')}): ${r.status}: ${r.summary}`);
        } catch (err) {
          report.failures.push({ event: `known-bug:${step.bug.id}`, error: errorText(err) });
          log(`${step.bug.id}: failed: ${errorText(err)}`);
          dirty = true;
        }
      }
      if (dirty && i < steps.length - 1) {
        await down(lab);
        lab = await up();
      }
    }
  } finally {
    await down(lab);
  }
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

async function down(lab: Lab): Promise<void> {
  const r = await lab.down();
  if (r.errors.length > 0)
    throw new Error(`teardown of lab ${r.lab} incomplete:\n${r.errors.join('\n')}`);
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

/** Adds modes measured elsewhere (the VM) to a report; a mode measured twice keeps the newer. */
export function mergeReports(into: MatrixReport, from: MatrixReport): MatrixReport {
  const modes = new Map(into.modes.map((m) => [columnOf(m), m]));
  for (const m of from.modes) modes.set(columnOf(m), m);
  const order = (m: ModeReport) => (MATRIX_MODES as readonly string[]).indexOf(m.mode);
  // Stable: variants of one mode keep the order they were given in.
  return { ...into, modes: [...modes.values()].sort((a, b) => order(a) - order(b)) };
}
