import type { Command } from 'commander';
import { Option } from 'commander';
import { execa } from 'execa';
import { kernelFeatureNames, runInVm, shouldUseVm, type KernelFeature } from '../../vm/index.js';
import { UsageError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('vm')
    .description(
      "run a command inside a QEMU VM booted with Debian's kernel (IP_VS, dummy, netem), the host root shared read-only",
    )
    .argument('<command...>', 'command and arguments (after --)')
    .option(
      '--kernel <pkg|dir>',
      'kernel package (linux-image-...) or a folder with vmlinuz and modules',
    )
    .option('--memory <MiB>', 'guest memory', (v) => Number(v), 2048)
    .option('--cpus <n>', 'guest CPUs', (v) => Number(v), 2)
    .addOption(
      new Option(
        '--accel <accel>',
        'tcg (software, default: nested KVM was seen to stall) or kvm',
      ).choices(['tcg', 'kvm']),
    )
    .option('--timeout <seconds>', 'kill the VM after this long', (v) => Number(v))
    .option(
      '--auto',
      'run in the VM only if the host kernel lacks a needed feature (SVCLAB_VM=auto|always|never decides)',
    )
    .option(
      '--needs <features>',
      `features the command needs, for --auto (${kernelFeatureNames.join(', ')})`,
      'ipvs',
    )
    .action(async (argv: string[], o) => {
      const needs = String(o.needs).split(',').filter(Boolean) as KernelFeature[];
      const bad = needs.filter((f) => !(kernelFeatureNames as readonly string[]).includes(f));
      if (bad.length > 0)
        throw new UsageError(
          `unknown feature ${bad.join(', ')} (valid: ${kernelFeatureNames.join(', ')})`,
        );
      if (o.auto) {
        const decision = await shouldUseVm(needs);
        process.stderr.write(
          `svclab: ${decision.useVm ? 'running in the VM' : 'running on the host'}: ${decision.reason}\n`,
        );
        if (!decision.useVm) {
          const r = await execa(argv[0]!, argv.slice(1), { stdio: 'inherit', reject: false });
          process.exitCode = r.exitCode ?? 1;
          return;
        }
      }
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const result = await runInVm({
        command: argv,
        cwd: process.cwd(),
        kernel: o.kernel,
        memoryMiB: o.memory,
        cpus: o.cpus,
        accel: o.accel,
        timeoutMs: o.timeout ? o.timeout * 1000 : undefined,
        signal: abort.signal,
        log: (line) => process.stderr.write(`svclab: ${line}\n`),
      });
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      process.stderr.write(
        `svclab: VM (kernel ${result.kernelRelease}) boot ${Math.round(result.bootMs)} ms, command ${Math.round(result.commandMs)} ms, teardown ${Math.round(result.teardownMs)} ms, exit ${result.exitCode}\n`,
      );
      process.exitCode = result.exitCode;
    });
}
