import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../exec/index.js';
import { packageRoot } from '../cli/package-root.js';
import type { MatrixReport } from './matrix.js';
import type { MatrixMode } from './modes.js';

export const REPORT_JSON = 'persistence-matrix.json';
export const REPORT_MD = 'persistence-matrix.md';

export interface VmMatrixOptions {
  modes: MatrixMode[];
  /** Extra `svclab matrix` arguments (events, stall bound, topology...). */
  args: string[];
  onOutput?: ((chunk: string) => void) | undefined;
  /** The svclab launcher to run inside the VM (the one the user ran). Default bin/svclab.js. */
  cli?: string | undefined;
}

/**
 * Runs `svclab matrix` for some modes inside the QEMU VM (`svclab vm -- ...`), for modes the host
 * kernel cannot run (IPVS without IP_VS), and reads back its JSON. The output folder lives under
 * the project directory, which the VM shares writable.
 */
export async function runMatrixInVm(o: VmMatrixOptions): Promise<MatrixReport> {
  const root = packageRoot();
  const bin = join(root, 'bin', 'svclab.js');
  const cli = o.cli ?? bin;
  await mkdir(join(root, '.svclab'), { recursive: true });
  const dir = await mkdtemp(join(root, '.svclab', 'matrix-vm-'));
  try {
    const argv = [
      bin,
      'vm',
      '--',
      process.execPath,
      cli,
      'matrix',
      '--modes',
      o.modes.join(','),
      '--out',
      dir,
      ...o.args,
    ];
    const child = execa(process.execPath, argv, {
      cwd: root,
      reject: false,
      all: true,
      stdin: 'ignore',
    });
    child.all?.on('data', (c: Buffer) => o.onOutput?.(c.toString('utf8')));
    const r = await child;
    const text = await readFile(join(dir, REPORT_JSON), 'utf8').catch(() => undefined);
    if (!text)
      throw new LabError(
        `svclab matrix in the VM wrote no report (exit ${r.exitCode}):\n${(r.all ?? '').split('\n').slice(-20).join('\n')}`,
      );
    return JSON.parse(text) as MatrixReport;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
