import type { Command } from 'commander';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { defaultPaths, loadReportInputs } from '../../report/load.js';
import { renderReport } from '../../report/render.js';
import { UsageError } from '../errors.js';
import { packageRoot } from '../package-root.js';

/** `svclab report`: one self-contained HTML page of the last test run, matrix, benchmarks and fidelity. */
export function register(program: Command): void {
  const root = packageRoot();
  const d = defaultPaths(root);
  const rel = (p: string) => p.slice(root.length + 1);
  program
    .command('report')
    .description(
      'write one self-contained HTML page (no external resources) of the last test run, the persistence matrix, the benchmarks and the fidelity report; default paths are in the svclab checkout',
    )
    .option(
      '--results <dir>',
      `vitest JSON reports and skip logs of the last test run (default ${rel(d.results)})`,
    )
    .option('--matrix <file>', `persistence matrix JSON (default ${rel(d.matrix)})`)
    .option('--bench <dir>', `benchmark reports, and scale/scale.json (default ${rel(d.bench)})`)
    .option('--fidelity <file>', `fidelity report JSON (default ${rel(d.fidelity)})`)
    .option('--out <file>', 'the HTML page to write (default .svclab/report.html)')
    .action(
      (o: {
        results?: string;
        matrix?: string;
        bench?: string;
        fidelity?: string;
        out?: string;
      }) => {
        const out = o.out !== undefined ? resolve(o.out) : join(root, '.svclab', 'report.html');
        let isDir = false;
        try {
          isDir = statSync(out).isDirectory();
        } catch {
          // Not there yet: it is written below.
        }
        if (isDir) throw new UsageError(`--out: ${out} is a directory`);
        const inputs = loadReportInputs({
          root,
          given: { results: o.results, matrix: o.matrix, bench: o.bench, fidelity: o.fidelity },
        });
        const page = renderReport(inputs);
        try {
          mkdirSync(dirname(out), { recursive: true });
          writeFileSync(out, page);
        } catch (err) {
          throw new UsageError(`--out: cannot write ${out}: ${(err as Error).message}`);
        }
        const missing = (['results', 'matrix', 'bench', 'fidelity'] as const).filter(
          (k) => !inputs[k].found,
        );
        process.stdout.write(
          `wrote ${out} (${(Buffer.byteLength(page) / 1024).toFixed(0)} KiB)${
            missing.length > 0
              ? `; not found, said so on the page: ${missing.map((k) => inputs[k].path).join(', ')}`
              : ''
          }\n`,
        );
      },
    );
}
