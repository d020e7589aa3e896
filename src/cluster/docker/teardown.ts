import { mapLimit } from '../../exec/index.js';
import { isOrphaned } from '../common/lab-flow.js';
import type { DownReport } from '../provider.js';
import { listLabDirs, readLabState, removeLabDir } from '../state.js';
import { docker, dockerUnavailable, isNotFound } from './client.js';
import { LABEL_LAB, labFilter } from './labels.js';
import { labNetworks, removeNetwork } from './network.js';

/**
 * Removes everything a docker lab made, found by its label whether or not its state survived:
 * its containers (force: the agents and anything `svclab exec` started die with them), then its
 * network (which takes the host-side bridge with it), then its folder under /run/svclab. Every
 * step runs even when an earlier one failed; failures are collected, not dropped.
 */
export async function teardownDockerLab(lab: string): Promise<DownReport> {
  const report: DownReport = { lab, removed: [], errors: [] };
  const unavailable = await dockerUnavailable();
  if (unavailable) {
    report.errors.push(`cannot remove the lab's containers and network: ${unavailable}`);
  } else {
    try {
      const containers = await docker().listContainers({ all: true, filters: labFilter(lab) });
      await mapLimit(containers, 8, async (c) => {
        const name = c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12);
        try {
          await docker().getContainer(c.Id).remove({ force: true, v: true });
          report.removed.push(`container ${name}`);
        } catch (err) {
          // Auto-remove containers (the external hosts) may vanish between list and remove.
          if (isNotFound(err) || /already in progress/.test(String(err)))
            report.removed.push(`container ${name}`);
          else report.errors.push(`failed to remove container ${name}: ${String(err)}`);
        }
      });
    } catch (err) {
      report.errors.push(`failed to list containers of lab ${lab}: ${String(err)}`);
    }
    try {
      for (const net of await labNetworks(lab)) {
        try {
          await removeNetwork(net.id);
          report.removed.push(`network ${net.name}`);
        } catch (err) {
          report.errors.push(`failed to remove network ${net.name}: ${String(err)}`);
        }
      }
    } catch (err) {
      report.errors.push(`failed to list networks of lab ${lab}: ${String(err)}`);
    }
  }
  try {
    await removeLabDir(lab);
  } catch (err) {
    report.errors.push(`failed to remove lab folder: ${String(err)}`);
  }
  return report;
}

/** Labs of the docker provider: state folders that say docker, plus labels on containers and networks. */
export async function listDockerLabs(): Promise<string[]> {
  const labs = new Set<string>();
  for (const lab of await listLabDirs()) {
    const st = await readLabState(lab).catch(() => undefined);
    if (st?.provider === 'docker') labs.add(lab);
  }
  if (!(await dockerUnavailable())) {
    const containers = await docker().listContainers({ all: true, filters: labFilter() });
    for (const c of containers) if (c.Labels[LABEL_LAB]) labs.add(c.Labels[LABEL_LAB]);
    for (const n of await labNetworks()) if (n.lab) labs.add(n.lab);
  }
  return [...labs].sort();
}

/**
 * What crashed runs left: labelled objects without a readable state, half-created labs whose
 * owner died, and harness (ephemeral) labs whose owner died. `all` removes every docker lab.
 */
export async function sweepDockerLabs(opts: { all?: boolean } = {}): Promise<DownReport[]> {
  const reports: DownReport[] = [];
  for (const lab of await listDockerLabs()) {
    const st = await readLabState(lab).catch(() => undefined);
    if (st && st.provider !== 'docker') continue;
    if (opts.all || isOrphaned(st)) reports.push(await teardownDockerLab(lab));
  }
  return reports;
}
