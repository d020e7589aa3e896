import type { Command } from 'commander';
import { loadTopology } from './topology-file.js';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check topology files; every problem is reported with its path')
    .argument('<files...>')
    .action(async (files: string[]) => {
      for (const f of files) {
        const t = await loadTopology(f);
        for (const w of t.warnings)
          process.stderr.write(`${f}: warning: ${w.path}: ${w.message}\n`);
        process.stdout.write(
          `${f}: valid (${t.nodes.length} nodes, ${t.pods.length} pods, ${t.services.length} services)\n`,
        );
      }
    });
}
