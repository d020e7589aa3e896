import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../cli/package-root.js';
import { LabError } from '../exec/index.js';
import { DECLARED_DIFFERENCES } from './declared.js';
import type { FidelityMode } from './diff.js';
import type { FidelityRun } from './run.js';

/** The file `svclab fidelity --runs-out` writes: the runs, before they become a report. */
export const RUNS_JSON = 'fidelity-runs.json';

export interface VmFidelityOptions {
  modes: FidelityMode[];
  /** Extra `svclab fidelity` arguments (topology, node, --random/--count). */
  args: string[];
  onOutput?: ((chunk: string) => void) | undefined;
  /** The svclab launcher to run inside the VM (the one the user ran). Default bin/svclab.js. */
  cli?: string | undefined;
}

/**
 * Runs `svclab fidelity` for some modes inside the QEMU VM (`svclab vm -- ...`), for the modes
 * the host kernel cannot run (IPVS without IP_VS), and reads back its runs, which the caller
 * merges with its own into one report. The runs' file lives under the project directory, which
 * the VM shares writable.
 */
export async function runFidelityInVm(o: VmFidelityOptions): Promise<FidelityRun> {
  const root = packageRoot();
  const bin = join(root, 'bin', 'svclab.js');
  await mkdir(join(root, '.svclab'), { recursive: true });
  const dir = await mkdtemp(join(root, '.svclab', 'fidelity-vm-'));
  const file = join(dir, RUNS_JSON);
  try {
    const argv = [
      bin,
      'vm',
      '--',
      process.execPath,
      o.cli ?? bin,
      'fidelity',
      '--mode',
      o.modes.join(','),
      '--runs-out',
      file,
      '--json',
      ...o.args,
    ];
    const child = execa(process.execPath, argv, {
      cwd: root,
      reject: false,
      stdin: 'ignore',
      // The report on stdout is the VM's; only its progress (stderr) is passed on.
      stdout: 'ignore',
      stderr: 'pipe',
    });
    const tail: string[] = [];
    child.stderr?.on('data', (c: Buffer) => {
      const text = c.toString('utf8');
      tail.push(text);
      if (tail.length > 40) tail.shift();
      o.onOutput?.(text);
    });
    const r = await child;
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (!text)
      throw new LabError(
        `svclab fidelity in the VM wrote no result (exit ${r.exitCode}):\n${tail.join('').split('\n').slice(-20).join('\n')}`,
      );
    return reviveRuns(JSON.parse(text) as FidelityRun);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** JSON loses the declarations' patterns: put the declarations themselves back, by id and side. */
export function reviveRuns(run: FidelityRun): FidelityRun {
  for (const m of run.runs)
    for (const s of m.sources)
      for (const c of s.comparisons)
        c.declared = c.declared.map(
          (d) =>
            DECLARED_DIFFERENCES.find(
              (x) => x.id === d.id && x.mode === d.mode && x.side === d.side,
            ) ?? d,
        );
  return run;
}
