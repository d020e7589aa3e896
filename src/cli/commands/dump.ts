import type { Command } from 'commander';
import { providerOfLab } from '../../cluster/providers.js';
import { printJson } from '../format.js';
import { selectLab } from '../lab-select.js';

export function register(program: Command): void {
  program
    .command('dump')
    .description(
      "print a node's dataplane state (rules, sets, IPVS, routes, conntrack), or write the whole lab's dump",
    )
    .argument('[target]', 'node (or pod / external host) to print')
    .option('--lab <name>', 'lab (default: the only one)')
    .option('--out <dir>', 'write the full diagnostic dump of the lab under this folder')
    .option('--json', 'machine-readable output')
    .action(async (target: string | undefined, o) => {
      const name = await selectLab(o.lab);
      const lab = await (await providerOfLab(name)).attach(name);
      if (o.out || !target) {
        const dir = await lab.dump({ dir: o.out, reason: 'svclab dump' });
        if (o.json) printJson({ dir });
        else process.stdout.write(`dump written to ${dir}\n`);
        return;
      }
      const t = lab.target(target);
      const sections: Record<string, string> = { ...(await lab.backend.networkDump(target)) };
      if (t.kind === 'node' && lab.dataplaneMode !== 'none') {
        Object.assign(sections, await lab.proxyDump(target));
      }
      if (o.json) return printJson(sections);
      for (const [k, v] of Object.entries(sections))
        process.stdout.write(`### ${target}: ${k}\n${v.trimEnd()}\n\n`);
    });
}
