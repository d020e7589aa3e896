import { Command, CommanderError } from 'commander';
import { ExecError, LabError } from '../exec/errors.js';
import { TopologyError } from '../model/issues.js';
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from './errors.js';

interface CommandModule {
  register(program: Command): unknown;
}

/**
 * Every command, one line each, in the order `--help` lists them. A command's module is imported
 * only when that command runs, so `svclab validate` never loads the Kubernetes client or
 * dockerode (a short command used to spend most of its second loading them, issue 17). `--help`,
 * `help` and unknown commands load them all. To add a command: a module under commands/ that
 * exports `register(program)`, and a line here.
 */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  up: () => import('./commands/up.js'),
  status: () => import('./commands/status.js'),
  down: () => import('./commands/down.js'),
  sweep: () => import('./commands/sweep.js'),
  validate: () => import('./commands/validate.js'),
  exec: () => import('./commands/exec.js'),
  probe: () => import('./commands/probe.js'),
  dump: () => import('./commands/dump.js'),
  test: () => import('./commands/test.js'),
  bench: () => import('./commands/bench.js'),
  vm: () => import('./commands/vm.js'),
  matrix: () => import('./commands/matrix.js'),
  report: () => import('./commands/report.js'),
  fidelity: () => import('./commands/fidelity.js'),
  doctor: () => import('./commands/doctor.js'),
  'select-lab': () => import('./commands/select-lab.js'),
  // One module for the control-plane verbs (registers all four, once).
  kube: () => import('./commands/kube.js'),
  kubeconfig: () => import('./commands/kube.js'),
  kubectl: () => import('./commands/kube.js'),
  'set-ready': () => import('./commands/kube.js'),
};

const program = new Command('svclab')
  .description(
    'Build multi-node labs for Kubernetes Service proxies, drive real traffic, assert what Services promise.',
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

try {
  // The first word that is not an option names the command (svclab has no global options with
  // values, only --help and --version).
  const args = process.argv.slice(2);
  const named = args.find((a) => !a.startsWith('-'));
  const load = named !== undefined ? COMMANDS[named] : undefined;
  const versionOnly = args.length > 0 && args.every((a) => a === '-V' || a === '--version');
  const loaders = load ? [load] : versionOnly ? [] : Object.values(COMMANDS);
  const modules = await Promise.all(loaders.map((l) => l()));
  for (const m of modules) m.register(program);
  program.commands.forEach((c) => c.exitOverride().showHelpAfterError());
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
