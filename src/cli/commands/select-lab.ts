import type { Command } from 'commander';
import { selectLab } from '../lab-select.js';

/** Hidden: prints the lab the other commands would pick (scripts use it). */
export function register(program: Command): void {
  program.command('select-lab', { hidden: true }).action(async () => {
    process.stdout.write((await selectLab(undefined)) + '\n');
  });
}
