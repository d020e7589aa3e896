import { runSvclabInVm } from '../vm/svclab-in-vm.js';
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
 * kernel cannot run (IPVS without IP_VS), and reads back its JSON.
 */
export async function runMatrixInVm(o: VmMatrixOptions): Promise<MatrixReport> {
  const text = await runSvclabInVm({
    command: 'matrix',
    args: (dir) => ['--modes', o.modes.join(','), '--out', dir, ...o.args],
    resultFile: REPORT_JSON,
    output: 'all',
    onOutput: o.onOutput,
    cli: o.cli,
  });
  return JSON.parse(text) as MatrixReport;
}
