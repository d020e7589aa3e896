import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Topology } from '../model/types.js';
import type { ProxyMode, ProxyOptions } from '../proxy/types.js';
import { LabError } from '../exec/index.js';

/**
 * Where a lab keeps what it needs to be found again: /run/svclab/<lab>/ (tmpfs, so a reboot that
 * removes the namespaces also removes the state). Sockets, logs and temp files live there too,
 * so removing the folder removes every file the lab made.
 */
export function runRoot(): string {
  return process.env.SVCLAB_RUN_DIR ?? '/run/svclab';
}

export function labDir(lab: string): string {
  return join(runRoot(), lab);
}

export interface AgentRecord {
  target: string;
  netns: string;
  pid: number;
  socket: string;
  log: string;
}

export interface LabState {
  name: string;
  provider: string;
  phase: 'provisioning' | 'ready' | 'tearing-down';
  createdAt: string;
  /** PID of the process that created the lab; with `ephemeral`, a dead owner means a crashed run. */
  ownerPid: number;
  /** Labs made by the test harness are swept once their owner is gone; `svclab up` labs are not. */
  ephemeral: boolean;
  topologyFile?: string | undefined;
  topology: Topology;
  proxy: { mode: ProxyMode | 'none'; options: ProxyOptions };
  /** Every network namespace the lab creates, recorded before it is created. */
  namespaces: string[];
  agents: AgentRecord[];
  /** Provider-specific records (container ids, network ids...). */
  extra?: Record<string, unknown>;
}

/**
 * Claims the lab name: mkdir is atomic, so two concurrent `up`s of the same name cannot both
 * succeed.
 */
export async function claimLabDir(lab: string): Promise<string> {
  const dir = labDir(lab);
  await mkdir(runRoot(), { recursive: true, mode: 0o755 });
  try {
    await mkdir(dir, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const existing = await readLabState(lab).catch(() => undefined);
      const since = existing
        ? ` (created ${existing.createdAt} by pid ${existing.ownerPid}, phase ${existing.phase})`
        : '';
      throw new LabError(
        `lab "${lab}" already exists${since}; run \`svclab down ${lab}\` first or pick another --name`,
      );
    }
    throw new LabError(`failed to create lab folder ${dir}`, { cause: err });
  }
  await Promise.all(['agents', 'logs', 'tmp'].map((d) => mkdir(join(dir, d))));
  return dir;
}

export async function writeLabState(state: LabState): Promise<void> {
  const file = join(labDir(state.name), 'state.json');
  // Write-then-rename so a crash never leaves a half-written state file for the sweep to trip on.
  await writeFile(`${file}.tmp`, JSON.stringify(state, null, 2));
  await rename(`${file}.tmp`, file);
}

export async function readLabState(lab: string): Promise<LabState> {
  const file = join(labDir(lab), 'state.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LabState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new LabError(`no lab named "${lab}" (no ${file})`);
    throw new LabError(`failed to read lab state ${file}`, { cause: err });
  }
}

/** Names of labs that have a state folder (possibly half-created). */
export async function listLabDirs(): Promise<string[]> {
  try {
    return (await readdir(runRoot(), { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}

export async function removeLabDir(lab: string): Promise<void> {
  await rm(labDir(lab), { recursive: true, force: true });
}

/**
 * A recorded agent PID is only signalled if it still is that lab's agent: PIDs are reused after a
 * crash, and the agent's argv names its lab (`--lab <name>`).
 */
export function isAgentOf(pid: number, lab: string): boolean {
  if (!isPidAlive(pid)) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.some((a, i) => a === '--lab' && argv[i + 1] === lab);
  } catch {
    return false;
  }
}

/** The control socket of the agent that serves `target` (a node or client) in the lab's state. */
export function agentSocketOf(state: LabState, target: string): string {
  const a = state.agents.find((x) => x.target === target);
  if (!a) throw new LabError(`no agent runs for "${target}" in lab ${state.name}`);
  return a.socket;
}

/** Each agent's log file, by the target it serves. */
export function agentLogsOf(state: LabState): Record<string, string> {
  return Object.fromEntries(state.agents.map((a) => [a.target, a.log]));
}

/** True when the process exists and is not a zombie (an orphaned zombie may never be reaped here). */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
