import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ipBatch, LabError, mapLimit, onCommand, run } from '../exec/index.js';
import type { Topology } from '../model/types.js';
import { Lab } from '../cluster/lab.js';
import { defaultProgressOutput, runPhases } from '../cluster/phases.js';
import { preflight } from '../cluster/preflight.js';
import type { DownReport, Provider, UpOptions } from '../cluster/provider.js';
import { claimLabDir, labDir, readLabState, writeLabState, type LabState } from '../cluster/state.js';
import { planAgents, startAgents } from './agents.js';
import { NetnsBackend } from './backend.js';
import { labOfNetns } from './names.js';
import { namespaceInitScript, planNetns } from './plan.js';
import { listNetnsLabs, sweepNetnsLabs, teardownLab } from './teardown.js';

const LAB_NAME = /^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/;

/** Appends every command run inside a lab's namespaces to that lab's commands.jsonl (for dumps). */
let commandLogInstalled = false;
function installCommandLog(): void {
  if (commandLogInstalled) return;
  commandLogInstalled = true;
  onCommand((rec) => {
    const lab = rec.netns ? labOfNetns(rec.netns) : undefined;
    if (!lab) return;
    const line = JSON.stringify({ at: new Date().toISOString(), argv: rec.argv, exitCode: rec.exitCode, durationMs: Math.round(rec.durationMs), stderr: rec.stderr.slice(0, 2000) });
    void appendFile(join(labDir(lab), 'logs', 'commands.jsonl'), line + '\n').catch(() => undefined);
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
    const name = opts.name ?? topology.name;
    if (!LAB_NAME.test(name)) {
      throw new LabError(`invalid lab name "${name}": use 1-20 lowercase letters, digits and '-', starting and ending with a letter or digit`);
    }
    preflight({ mode: opts.proxy, iptablesBackend: opts.proxyOptions?.iptablesBackend });
    installCommandLog();
    const dir = await claimLabDir(name);
    const plan = planNetns(name, topology);
    const state: LabState = {
      name,
      provider: this.name,
      phase: 'provisioning',
      createdAt: new Date().toISOString(),
      ownerPid: process.pid,
      ephemeral: opts.ephemeral ?? false,
      topologyFile: opts.topologyFile,
      topology,
      proxy: { mode: opts.proxy, options: opts.proxyOptions ?? {} },
      // Recorded before anything exists, so a run killed mid-way can be swept by name.
      namespaces: plan.namespaces.map((n) => n.netns),
      agents: [],
    };
    await writeLabState(state);
    const lab: Lab = new Lab(new NetnsBackend(name, () => lab.topology, () => state), topology, opts.proxy, opts.proxyOptions ?? {});
    try {
      await runPhases(
        [
          {
            title: 'provision namespaces',
            run: async () => {
              await ipBatch(plan.rootBatch);
              await mapLimit(plan.namespaces, 8, (ns) => run('sh', ['-c', namespaceInitScript(ns)], { netns: ns.netns, input: ns.batch.join('\n') + '\n' }));
              return `${plan.namespaces.length} namespaces`;
            },
          },
          {
            title: 'start agents',
            run: async () => {
              const agents = await startAgents(name, dir, planAgents(name, topology), (r) => {
                state.agents.push(r);
              });
              await writeLabState(state);
              return `${agents.length} agents`;
            },
          },
          {
            title: `install proxy (${opts.proxy})`,
            run: async () => {
              const results = await lab.installProxies();
              const rules = results.reduce((n, r) => n + (r.written.rules ?? 0), 0);
              return results.length > 0 ? `${results.length} nodes, ${rules} rules` : 'no proxy';
            },
          },
        ],
        opts.progress ?? defaultProgressOutput(),
      );
      state.phase = 'ready';
      await writeLabState(state);
      return lab;
    } catch (err) {
      if (!opts.keepOnFailure) {
        const report = await teardownLab(name);
        if (report.errors.length > 0) {
          throw new LabError(`failed to bring up lab ${name} (and teardown was incomplete: ${report.errors.join('; ')})`, { cause: err });
        }
      }
      throw new LabError(`failed to bring up lab ${name}${opts.keepOnFailure ? ` (kept for debugging; state in ${dir})` : ''}`, { cause: err });
    }
  }

  async attach(labName: string): Promise<Lab> {
    const state = await readLabState(labName);
    if (state.provider !== this.name) throw new LabError(`lab ${labName} belongs to provider ${state.provider}`);
    installCommandLog();
    const lab: Lab = new Lab(new NetnsBackend(labName, () => lab.topology, () => state), state.topology, state.proxy.mode, state.proxy.options);
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
