import { readdir } from 'node:fs/promises';
import { run } from '../exec/index.js';
import type { DownReport } from '../cluster/provider.js';
import { isOrphaned } from '../cluster/common/lab-flow.js';
import { isAgentOf, listLabDirs, readLabState, removeLabDir } from '../cluster/state.js';
import { labOfNetns, NETNS_PREFIX } from './names.js';
import { killAll, netnsInode, pidsInNetns } from './processes.js';

async function existingLabNamespaces(lab?: string): Promise<string[]> {
  const names = await readdir('/run/netns').catch(() => [] as string[]);
  return names
    .filter((n) => n.startsWith(NETNS_PREFIX) && (lab === undefined || labOfNetns(n) === lab))
    .sort();
}

/**
 * Removes everything a netns lab made, whether or not its state file survived: the processes
 * inside its namespaces (agents, and anything a user started with `svclab exec`), the namespaces
 * (which takes their veths and rules with them), and its folder under /run/svclab. Every step
 * runs even when an earlier one failed; failures are collected, not dropped.
 */
export async function teardownLab(lab: string): Promise<DownReport> {
  const report: DownReport = { lab, removed: [], errors: [] };
  const namespaces = await existingLabNamespaces(lab);
  const state = await readLabState(lab).catch(() => undefined);

  const inodes = new Set<number>();
  for (const ns of namespaces) {
    const ino = await netnsInode(ns);
    if (ino !== undefined) inodes.add(ino);
  }
  // Agents recorded in the state, plus any process still inside the lab's namespaces.
  const pids = new Set([
    ...(state?.agents ?? []).map((a) => a.pid).filter((p) => isAgentOf(p, lab)),
    ...(await pidsInNetns(inodes)),
  ]);
  try {
    await killAll([...pids], 0);
    if (pids.size > 0) report.removed.push(`${pids.size} process(es)`);
  } catch (err) {
    report.errors.push(`failed to stop processes ${[...pids].join(' ')}: ${String(err)}`);
  }

  if (namespaces.length > 0) {
    const r = await run('ip', ['-force', '-batch', '-'], {
      input: namespaces.map((n) => `netns del ${n}`).join('\n') + '\n',
      allowFailure: true,
    });
    const left = await existingLabNamespaces(lab);
    report.removed.push(...namespaces.filter((n) => !left.includes(n)).map((n) => `netns ${n}`));
    if (left.length > 0)
      report.errors.push(`failed to delete namespaces ${left.join(', ')}: ${r.stderr.trim()}`);
  }

  try {
    await removeLabDir(lab);
  } catch (err) {
    report.errors.push(`failed to remove lab folder: ${String(err)}`);
  }
  return report;
}

/** Labs of the netns provider on this machine: state folders plus namespaces without one. */
export async function listNetnsLabs(): Promise<string[]> {
  const fromNs = (await existingLabNamespaces()).map((n) => labOfNetns(n)!);
  const fromState = [];
  for (const lab of await listLabDirs()) {
    const st = await readLabState(lab).catch(() => undefined);
    if (!st || st.provider === 'netns') fromState.push(lab);
  }
  return [...new Set([...fromState, ...fromNs])].sort();
}

/**
 * What a crashed run left: labs with namespaces but no readable state, half-created labs whose
 * owner died, and harness (ephemeral) labs whose owner died. `all` removes every netns lab.
 */
export async function sweepNetnsLabs(opts: { all?: boolean } = {}): Promise<DownReport[]> {
  const reports: DownReport[] = [];
  for (const lab of await listNetnsLabs()) {
    if (opts.all || isOrphaned(await readLabState(lab).catch(() => undefined)))
      reports.push(await teardownLab(lab));
  }
  return reports;
}
