import type { Command } from 'commander';
import { getProvider } from '../../cluster/providers.js';
import { printJson } from '../format.js';
import { dockerAnswers, sweepVmsIfAny } from '../sweep.js';

export function register(program: Command): void {
  program
    .command('sweep')
    .description(
      'remove what crashed runs left behind (labs whose creator died mid-way, test labs)',
    )
    .option('--json', 'machine-readable output')
    .action(async (o) => {
      const reports = await (await getProvider('netns')).sweep();
      if (dockerAnswers())
        reports.push(
          ...(await getProvider('docker')
            .then((p) => p.sweep())
            .catch(() => [])),
        );
      const { vms, scratch } = await sweepVmsIfAny();
      if (o.json) return printJson({ labs: reports, vms, vmScratch: scratch });
      for (const d of scratch) process.stdout.write(`VM run scratch folder ${d}: removed\n`);
      for (const r of reports)
        process.stdout.write(`lab ${r.lab}: removed ${r.removed.join(', ') || 'nothing'}\n`);
      process.stdout.write(`${reports.length} lab(s), ${vms} VM(s) swept\n`);
    });
}
