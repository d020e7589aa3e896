import { LabError } from '../../exec/index.js';
import type { Topology } from '../../model/types.js';
import { Lab } from '../lab.js';
import { disownLab, ownLab, tearDownOwned } from '../owned-labs.js';
import { defaultProgressOutput, runPhases, type Phase } from '../phases.js';
import type { DownReport, LabBackend, UpOptions } from '../provider.js';
import { claimLabDir, isPidAlive, readLabState, writeLabState, type LabState } from '../state.js';
import { validateLabName } from './names.js';

/**
 * What every provider's `up` shares (kind's create actions): claim the lab name, record the state
 * before anything exists, run the provider's phases, install the Service proxy, mark the lab
 * ready, and tear everything down when a phase fails unless asked to keep it.
 */
export interface CreateLabFlow {
  provider: string;
  topology: Topology;
  opts: UpOptions;
  /** Network namespaces the lab will create, recorded before the first one exists. */
  namespaces?: string[] | undefined;
  /** The provider's handle on the lab; `topology` follows the Lab's updates. */
  backend(name: string, state: LabState, topology: () => Topology): LabBackend;
  /** The provider's phases (provision, start agents...); the proxy phase follows them. */
  phases(ctx: FlowContext): Phase[];
  /**
   * Phases after the proxy is installed, before the lab is ready: waiting for what the earlier
   * phases started (agents boot while the proxy is installed; neither needs the other).
   */
  readyPhases?(ctx: FlowContext): Phase[];
  teardown(name: string): Promise<DownReport>;
}

export interface FlowContext {
  name: string;
  dir: string;
  state: LabState;
  saveState: () => Promise<void>;
  /** The lab being made (phases that register it elsewhere, e.g. in its API server, update it). */
  lab: Lab;
}

export async function createLab(flow: CreateLabFlow): Promise<Lab> {
  const { opts, topology } = flow;
  const name = opts.name ?? topology.name;
  const invalid = validateLabName(name);
  if (invalid) throw new LabError(invalid);
  const dir = await claimLabDir(name);
  const state: LabState = {
    name,
    provider: flow.provider,
    phase: 'provisioning',
    createdAt: new Date().toISOString(),
    ownerPid: process.pid,
    ephemeral: opts.ephemeral ?? false,
    topologyFile: opts.topologyFile,
    topology,
    proxy: { mode: opts.proxy, options: opts.proxyOptions ?? {} },
    namespaces: flow.namespaces ?? [],
    agents: [],
    extra: {},
  };
  const saveState = () => writeLabState(state);
  await saveState();
  // From here on there is something to remove if this process is interrupted.
  if (state.ephemeral) ownLab(name, () => flow.teardown(name));
  const lab: Lab = new Lab(
    flow.backend(name, state, () => lab.topology),
    topology,
    opts.proxy,
    opts.proxyOptions ?? {},
  );
  try {
    const ctx: FlowContext = { name, dir, state, saveState, lab };
    const timings = await runPhases(
      [...flow.phases(ctx), installProxyPhase(lab), ...(flow.readyPhases?.(ctx) ?? [])],
      opts.progress ?? defaultProgressOutput(),
    );
    state.phase = 'ready';
    // Kept for `svclab bench up` and for people asking why an up was slow.
    state.extra = { ...state.extra, phaseMs: timings };
    await saveState();
    return lab;
  } catch (err) {
    return failedUp(name, err, { keepOnFailure: opts.keepOnFailure, dir }, () =>
      flow.teardown(name),
    );
  }
}

/**
 * A bring-up that failed (every provider's, and an existing cluster's): the lab is removed unless
 * asked to keep it, and the error says which, with the phase's error as its cause.
 */
export async function failedUp(
  name: string,
  err: unknown,
  o: { keepOnFailure?: boolean | undefined; dir: string },
  teardown: () => Promise<DownReport>,
): Promise<never> {
  if (o.keepOnFailure) disownLab(name);
  else {
    const report = await tearDownOwned(name, teardown());
    if (report.errors.length > 0)
      throw new LabError(
        `failed to bring up lab ${name} (and teardown was incomplete: ${report.errors.join('; ')})`,
        { cause: err },
      );
  }
  throw new LabError(
    `failed to bring up lab ${name}${o.keepOnFailure ? ` (kept for debugging; state in ${o.dir})` : ''}`,
    { cause: err },
  );
}

function installProxyPhase(lab: Lab): Phase {
  return {
    title: `install proxy (${lab.proxyMode})`,
    run: async () => {
      const results = await lab.installProxies();
      const rules = results.reduce((n, r) => n + (r.written.rules ?? 0), 0);
      return results.length > 0 ? `${results.length} nodes, ${rules} rules` : 'no proxy';
    },
  };
}

/** Reconnects to a lab of `provider` created earlier, from its state. */
export async function attachLab(
  provider: string,
  labName: string,
  backend: (state: LabState, topology: () => Topology) => LabBackend,
): Promise<Lab> {
  const state = await readLabState(labName);
  if (state.provider !== provider)
    throw new LabError(`lab ${labName} belongs to provider ${state.provider}`);
  const lab: Lab = new Lab(
    backend(state, () => lab.topology),
    state.topology,
    state.proxy.mode,
    state.proxy.options,
  );
  return lab;
}

/**
 * What a sweep removes: a lab without readable state (a crash before it was written), or one
 * whose owner died while it was being created, or a harness (ephemeral) lab whose owner is gone.
 */
export function isOrphaned(state: LabState | undefined): boolean {
  return !state || ((state.ephemeral || state.phase !== 'ready') && !isPidAlive(state.ownerPid));
}
