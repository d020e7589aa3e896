import type { Command } from 'commander';
import { providerOfLab } from '../../cluster/providers.js';
import { runInteractive } from '../../exec/index.js';
import { NetnsBackend } from '../../netns/backend.js';
import { selectLab } from '../lab-select.js';

export function register(program: Command): void {
  program
    .command('exec')
    .description('run a command inside a node, pod or external host')
    .argument('<target>', 'node, pod or external host name')
    .argument('<command...>', 'command and arguments (after --)')
    .option('--lab <name>', 'lab (default: the only one)')
    .action(async (target: string, argv: string[], o) => {
      const name = await selectLab(o.lab);
      const lab = await (await providerOfLab(name)).attach(name);
      if (!(lab.backend instanceof NetnsBackend)) {
        const r = await lab.exec(target, argv, { allowFailure: true });
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        process.exitCode = r.exitCode ?? 1;
        return;
      }
      process.exitCode = await runInteractive(argv[0]!, argv.slice(1), {
        netns: lab.backend.netnsOf(target),
      });
    });
}
