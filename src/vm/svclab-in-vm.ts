import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../cli/package-root.js';
import { disownLab, ownLab } from '../cluster/owned-labs.js';
import { isPidAlive } from '../cluster/state.js';
import { LabError } from '../exec/index.js';

export interface SvclabInVmOptions {
  /** The svclab command run in the VM (`matrix`, `fidelity`): names the scratch folder and errors. */
  command: string;
  /** Its arguments after the command name, given the scratch folder it may write to. */
  args: (dir: string) => string[];
  /** The file, relative to the scratch folder, the command leaves its result in. */
  resultFile: string;
  /**
   * What of the command's output reaches onOutput: `all` (stdout and stderr), or `stderr` only
   * when stdout carries a report that the caller reads from resultFile instead.
   */
  output: 'all' | 'stderr';
  onOutput?: ((chunk: string) => void) | undefined;
  /** The svclab launcher to run inside the VM (the one the user ran). Default bin/svclab.js. */
  cli?: string | undefined;
}

/** `.svclab/<command>-vm-<owner pid>-<random>`: the owner pid lets a sweep tell a crashed run's folder. */
const scratchName = /^[a-z]+-vm-(\d+)-[A-Za-z0-9]+$/;

/**
 * Runs `svclab <command> ...` inside the QEMU VM (`svclab vm -- ...`), for modes the host kernel
 * cannot run (IPVS without IP_VS), and returns the text of the result file it wrote. The scratch
 * folder lives under the project directory, which the VM shares writable, and is removed after.
 *
 * The run is owned like a lab (owned-labs.ts): on SIGINT or SIGTERM the VM is stopped (the
 * `svclab vm` child stops it on the signal; a `kill` aimed at this process alone reaches the child
 * only through here) and the folder removed before the process exits. Without that, the process
 * died at once and left the folder; a run killed harder leaves it to `sweepVmScratch`.
 */
export async function runSvclabInVm(o: SvclabInVmOptions): Promise<string> {
  const root = packageRoot();
  const bin = join(root, 'bin', 'svclab.js');
  await mkdir(join(root, '.svclab'), { recursive: true });
  const dir = await mkdtemp(join(root, '.svclab', `${o.command}-vm-${process.pid}-`));
  const owner = `svclab ${o.command} in the VM (${dir})`;
  try {
    const argv = [bin, 'vm', '--', process.execPath, o.cli ?? bin, o.command, ...o.args(dir)];
    const child = execa(process.execPath, argv, {
      cwd: root,
      reject: false,
      stdin: 'ignore',
      stdout: o.output === 'all' ? 'pipe' : 'ignore',
      stderr: 'pipe',
      all: o.output === 'all',
    });
    // The last lines of output, for the error when no result was written.
    const tail: string[] = [];
    (o.output === 'all' ? child.all : child.stderr)?.on('data', (c: Buffer) => {
      const text = c.toString('utf8');
      tail.push(text);
      if (tail.length > 40) tail.shift();
      o.onOutput?.(text);
    });
    let interrupted = false;
    ownLab(owner, async () => {
      interrupted = true;
      child.kill('SIGINT');
      await child;
      await rm(dir, { recursive: true, force: true });
    });
    const r = await child;
    if (interrupted) throw new LabError(`svclab ${o.command} in the VM: interrupted`);
    const text = await readFile(join(dir, o.resultFile), 'utf8').catch(() => undefined);
    if (!text)
      throw new LabError(
        `svclab ${o.command} in the VM wrote no result (exit ${r.exitCode}):\n${tail.join('').split('\n').slice(-20).join('\n')}`,
      );
    return text;
  } finally {
    disownLab(owner);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Removes the scratch folders of VM runs whose owner process died (every one with `all`), as
 * `svclab sweep` and `svclab down --all` remove a crashed run's labs and VMs. Returns their paths.
 */
export async function sweepVmScratch(
  opts: { all?: boolean; base?: string } = {},
): Promise<string[]> {
  const base = opts.base ?? join(packageRoot(), '.svclab');
  const entries = await readdir(base).catch(() => [] as string[]);
  const victims = entries
    .filter((e) => {
      const m = scratchName.exec(e);
      return m && (opts.all || !isPidAlive(Number(m[1])));
    })
    .map((e) => join(base, e));
  for (const d of victims) await rm(d, { recursive: true, force: true });
  return victims;
}
