import { Command, CommanderError } from 'commander';
import { ExecError, LabError } from '../exec/index.js';
import { TopologyError } from '../model/index.js';
import { registerLifecycle } from './commands/lifecycle.js';
import { registerTraffic } from './commands/traffic.js';
import { registerTest } from './commands/test.js';
import { registerBench } from './commands/bench.js';
import { registerDoctor } from './commands/doctor.js';
import { registerVm } from './commands/vm.js';
import { registerMatrix } from './commands/matrix.js';
import { registerKube } from './commands/kube.js';
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from './errors.js';

const program = new Command('svclab')
  .description(
    'Build multi-node labs for Kubernetes Service proxies, drive real traffic, assert what Services promise.',
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerLifecycle(program);
registerTraffic(program);
registerTest(program);
registerBench(program);
registerVm(program);
registerMatrix(program);
registerDoctor(program);
registerKube(program);
program.commands.forEach((c) => c.exitOverride().showHelpAfterError());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = report(err);
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander already printed the message (unknown option, invalid choice...); help and
    // version are not failures.
    if (
      err.code === 'commander.helpDisplayed' ||
      err.code === 'commander.version' ||
      err.code === 'commander.help'
    )
      return 0;
    return EXIT_USAGE;
  }
  if (err instanceof TopologyError || err instanceof UsageError) {
    process.stderr.write(`svclab: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof LabError || err instanceof ExecError) {
    process.stderr.write(`svclab: ${err.message}\n`);
    if (process.env.SVCLAB_DEBUG && err.stack) process.stderr.write(err.stack + '\n');
    return EXIT_FAILURE;
  }
  process.stderr.write(
    `svclab: ${err instanceof Error ? (process.env.SVCLAB_DEBUG ? err.stack : err.message) : String(err)}\n`,
  );
  return EXIT_FAILURE;
}
