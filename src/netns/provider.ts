import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ipBatch, LabError, mapLimit, onCommand, run } from '../exec/index.js';
import type { Topology } from '../model/types.js';
import type { Lab } from '../cluster/lab.js';
import { attachLab, createLab } from '../cluster/common/lab-flow.js';
import { preflight } from '../cluster/preflight.js';
import type { DownReport, Provider, UpOptions } from '../cluster/provider.js';
import { labDir } from '../cluster/state.js';
import { planAgents, spawnAgents, waitForAgents } from './agents.js';
import { NetnsBackend } from './backend.js';
import { labOfNetns } from './names.js';
import { namespaceInitScript, planNetns } from './plan.js';
import { listNetnsLabs, sweepNetnsLabs, teardownLab } from './teardown.js';
import { controlPlaneIP as cpIP } from '../controlplane/layout.js';

/** Appends every command run inside a lab's namespaces to that lab's commands.jsonl (for dumps). */
let commandLogInstalled = false;
function installCommandLog(): void {
  if (commandLogInstalled) return;
  commandLogInstalled = true;
  onCommand((rec) => {
    const lab = rec.netns ? labOfNetns(rec.netns) : undefined;
    if (!lab) return;
    const line = JSON.stringify({
      at: new Date().toISOString(),
      argv: rec.argv,
      exitCode: rec.exitCode,
      durationMs: Math.round(rec.durationMs),
      stderr: rec.stderr.slice(0, 2000),
    });
    void appendFile(join(labDir(lab), 'logs', 'commands.jsonl'), line + '\n').catch(
      () => undefined,
    );
  });
}

/**
 * The embedded provider: nodes, pods and external hosts are network namespaces on this host,
 * wired by `ip -batch` (one process for all namespaces and veths, one per namespace for addresses
 * and routes), so a three-node lab comes up in well under a second.
 */
export class NetnsProvider implements Provider {
  readonly name = 'netns';

  async up(topology: Topology, opts: UpOptions): Promise<Lab> {
    preflight({ mode: opts.proxy, iptablesBackend: opts.proxyOptions?.iptablesBackend });
    installCommandLog();
    const name = opts.name ?? topology.name;
    if (opts.kubeProxy && !opts.controlPlane)
      throw new LabError('the real kube-proxy needs the control plane (controlPlane: true)');
    const controlPlaneIP = opts.controlPlane ? cpIP(topology) : undefined;
    const plan = planNetns(name, topology, { controlPlaneIP });
    // The control plane's phases (and the build they may need) load only for labs that have one.
    const { controlPlanePhases } = opts.controlPlane
      ? await import('../controlplane/bringup.js')
      : { controlPlanePhases: undefined };
    return createLab({
      provider: this.name,
      topology,
      opts,
      // Recorded before anything exists, so a run killed mid-way can be swept by name.
      namespaces: plan.namespaces.map((n) => n.netns),
      backend: (lab, state, topo) => new NetnsBackend(lab, topo, () => state),
      phases: ({ dir, state, saveState, lab }) => [
        {
          title: 'provision namespaces',
          run: async () => {
            await ipBatch(plan.rootBatch);
            await mapLimit(plan.namespaces, 8, (ns) =>
              run('sh', ['-c', namespaceInitScript(ns)], {
                netns: ns.netns,
                input: ns.batch.join('\n') + '\n',
              }),
            );
            return `${plan.namespaces.length} namespaces`;
          },
        },
        {
          title: 'start agents',
          run: async () => {
            const agents = spawnAgents(name, dir, planAgents(name, topology), (r) => {
              state.agents.push(r);
            });
            await saveState();
            return `${agents.length} agents`;
          },
        },
        ...(controlPlanePhases
          ? [
              // The lab kubelet reports readiness from the agents: they must answer first.
              {
                title: 'wait for agents',
                run: async () => {
                  await waitForAgents(state.agents);
                  return `${state.agents.length} ready`;
                },
              },
              ...controlPlanePhases({
                lab: name,
                state,
                saveState,
                topology: () => lab.topology,
                adoptTopology: async (t) => {
                  state.topology = t;
                  await lab.adoptTopology(t);
                },
                kube: opts.kube ?? {},
                kubeProxy: opts.kubeProxy,
                nodePortRange: opts.nodePortRange,
              }),
            ]
          : []),
      ],
      // Agents boot (a Node.js start each, most of `up`'s time) while the proxy is installed.
      readyPhases: ({ state }) => [
        {
          title: 'wait for agents',
          run: async () => {
            await waitForAgents(state.agents);
            return `${state.agents.length} ready`;
          },
        },
      ],
      teardown: teardownLab,
    });
  }

  async attach(labName: string): Promise<Lab> {
    installCommandLog();
    const lab = await attachLab(
      this.name,
      labName,
      (state, topo) => new NetnsBackend(labName, topo, () => state),
    );
    // A lab whose API server is down is still a lab to look at, dump and remove.
    await lab
      .refreshFromApi()
      .catch((err: unknown) =>
        process.stderr.write(
          `svclab: warning: lab ${labName}: cannot read its API server (${(err as Error).message}); using the last known state\n`,
        ),
      );
    return lab;
  }

  down(labName: string): Promise<DownReport> {
    return teardownLab(labName);
  }

  list(): Promise<string[]> {
    return listNetnsLabs();
  }

  sweep(opts: { all?: boolean } = {}): Promise<DownReport[]> {
    return sweepNetnsLabs(opts);
  }
}
