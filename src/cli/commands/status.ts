import type { Command } from 'commander';
import { providerOfLab } from '../../cluster/providers.js';
import { listLabDirs, readLabState } from '../../cluster/state.js';
import { describeLab, formatLab } from '../describe.js';
import { printJson, table } from '../format.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('list labs, or describe one')
    .argument('[lab]', 'lab name')
    .option('--json', 'machine-readable output')
    .action(async (name: string | undefined, o) => {
      if (!name) {
        const labs = [];
        for (const lab of await listLabDirs()) {
          const st = await readLabState(lab).catch(() => undefined);
          labs.push({
            name: lab,
            provider: st?.provider ?? '?',
            proxy: st?.proxy.mode ?? '?',
            phase: st?.phase ?? 'broken',
            createdAt: st?.createdAt,
            nodes: st?.topology.nodes.length ?? 0,
            pods: st?.topology.pods.length ?? 0,
          });
        }
        if (o.json) return printJson(labs);
        if (labs.length === 0) return void process.stdout.write('no labs\n');
        return void process.stdout.write(
          table(
            ['LAB', 'PROVIDER', 'PROXY', 'PHASE', 'NODES', 'PODS', 'CREATED'],
            labs.map((l) => [l.name, l.provider, l.proxy, l.phase, l.nodes, l.pods, l.createdAt]),
          ) + '\n',
        );
      }
      const lab = await (await providerOfLab(name)).attach(name);
      const d = describeLab(lab);
      if (o.json) printJson(d);
      else process.stdout.write(formatLab(d) + '\n');
    });
}
