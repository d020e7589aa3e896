import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { benchCli } from '../../bench/cli.js';
import { benchUp } from '../../bench/up.js';
import { benchVm } from '../../vm/index.js';
import { parseProxyMode } from '../../proxy/index.js';
import { UsageError } from '../errors.js';
import { table } from '../format.js';
import { packageRoot } from '../package-root.js';
import { proxyOption } from './options.js';
import { registerBenchScale } from './bench-scale.js';

const ms = (v: number) => `${Math.round(v)} ms`;

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${name} must be a positive integer, got "${v}"`);
  return n;
};

export function register(program: Command): Command {
  const bench = program
    .command('bench')
    .description('benchmarks (timings and sizes live here, not in tests); JSON output');
  bench
    .command('up')
    .description(
      'time lab bring-up and teardown of the shipped topologies and a 5-node x 20-pod one',
    )
    .option('--runs <n>', 'repetitions per topology', positive('--runs'), 5)
    .addOption(proxyOption())
    .option('--out <file>', 'write the JSON report here')
    .option('--json', 'print the JSON report')
    .option(
      '--control-plane',
      'three-node with etcd, kube-apiserver and kube-controller-manager: time per phase, RSS per process',
    )
    .action(async (o) => {
      if (o.controlPlane) {
        const { benchControlPlaneUp } = await import('../../bench/control-plane.js');
        const cp = await benchControlPlaneUp({
          root: packageRoot(),
          runs: o.runs,
          proxy: parseProxyMode(o.proxy),
          onProgress: (l) => process.stderr.write(`svclab: ${l}\n`),
        });
        if (o.out) await writeFile(o.out, JSON.stringify(cp, null, 2) + '\n');
        if (o.json) process.stdout.write(JSON.stringify(cp, null, 2) + '\n');
        else
          process.stdout.write(
            table(
              ['WHAT', 'MEDIAN', 'MAX'],
              [
                [
                  'up (every Pod Ready, EndpointSlices match)',
                  `${cp.result.upMs.median.toFixed(0)} ms`,
                  `${cp.result.upMs.max.toFixed(0)} ms`,
                ],
                [
                  'down',
                  `${cp.result.downMs.median.toFixed(0)} ms`,
                  `${cp.result.downMs.max.toFixed(0)} ms`,
                ],
                ...Object.entries(cp.result.phaseMs).map(([k, v]) => [
                  `  phase: ${k}`,
                  `${v.median.toFixed(0)} ms`,
                  `${v.max.toFixed(0)} ms`,
                ]),
                ...Object.entries(cp.result.rssMiB).map(([k, v]) => [
                  `  RSS ${k}`,
                  `${v.median.toFixed(0)} MiB`,
                  `${v.max.toFixed(0)} MiB`,
                ]),
              ],
            ) +
              `\n(${cp.result.runs} runs, Kubernetes ${cp.result.version}, proxy ${cp.proxy}, ${cp.machine.cpus} CPUs)\n`,
          );
        return;
      }
      const report = await benchUp({
        root: packageRoot(),
        runs: o.runs,
        proxy: parseProxyMode(o.proxy),
        onProgress: (l) => process.stderr.write(`svclab: ${l}\n`),
      });
      if (o.out) await writeFile(o.out, JSON.stringify(report, null, 2) + '\n');
      if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else
        process.stdout.write(
          table(
            [
              'TOPOLOGY',
              'NODES',
              'PODS',
              'NAMESPACES',
              'UP MEDIAN',
              'UP MAX',
              'DOWN MEDIAN',
              'DOWN MAX',
              'SVCLAB UP',
              'SVCLAB DOWN',
            ],
            report.results.map((r) => [
              r.topology,
              r.nodes,
              r.pods,
              r.namespaces,
              `${r.upMs.median.toFixed(0)} ms`,
              `${r.upMs.max.toFixed(0)} ms`,
              `${r.downMs.median.toFixed(0)} ms`,
              `${r.downMs.max.toFixed(0)} ms`,
              `${r.wholeUpMs.median.toFixed(0)} ms`,
              `${r.wholeDownMs.median.toFixed(0)} ms`,
            ]),
          ) +
            `\n(${report.runs} runs each, proxy ${report.proxy}, kernel ${report.machine.kernel}, ${report.machine.cpus} CPUs; SVCLAB UP/DOWN: medians of the whole commands, start-up included)\n`,
        );
    });
  bench
    .command('vm')
    .description(
      'time VM boot-to-command and teardown (software emulation unless --accel kvm), and process spawns inside',
    )
    .option('--kernel <pkg|dir>', 'kernel package or folder')
    .option('--accel <accel>', 'tcg or kvm')
    .option('--out <file>', 'write the JSON report here')
    .option('--json', 'print the JSON report')
    .action(async (o) => {
      const report = await benchVm({ kernel: o.kernel, accel: o.accel });
      if (o.out) await writeFile(o.out, JSON.stringify(report, null, 2) + '\n');
      if (o.json) return void process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      process.stdout.write(
        table(
          ['COMMAND', 'BOOT', 'COMMAND TIME', 'TEARDOWN', 'TOTAL'],
          report.runs.map((r) => [
            r.command.join(' '),
            ms(r.bootMs),
            ms(r.commandMs),
            ms(r.teardownMs),
            ms(r.totalMs),
          ]),
        ) +
          '\n\n' +
          table(
            ['INSIDE ONE VM', 'COLD', 'WARM'],
            Object.entries(report.inside).map(([c, t]) => [c, ms(t.coldMs), ms(t.warmMs)]),
          ) +
          `\n(kernel ${report.kernelRelease}, accel ${report.accel}, host load ${report.hostLoad.toFixed(1)})\n`,
      );
    });
  bench
    .command('cli')
    .description(
      'time whole svclab commands as a user does (start-up included) against `node -e 0`: short commands, up and down',
    )
    .option('--runs <n>', 'repetitions per command (the median is reported)', positive('--runs'), 7)
    .addOption(proxyOption())
    .option('--topology <file>', 'topology for validate, up and down', 'topologies/three-node.yaml')
    .option('--out <file>', 'write the JSON report here')
    .option('--json', 'print the JSON report')
    .action(async (o) => {
      const report = await benchCli({
        root: packageRoot(),
        runs: o.runs,
        proxy: parseProxyMode(o.proxy),
        topologyFile: resolve(o.topology),
        onProgress: (l) => process.stderr.write(`svclab: ${l}\n`),
      });
      if (o.out) await writeFile(o.out, JSON.stringify(report, null, 2) + '\n');
      if (o.json) return void process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      process.stdout.write(
        table(
          ['COMMAND', 'MEDIAN', 'MAX', 'X NODE -E 0', 'GOAL', 'MET'],
          report.commands.map((c) => [
            c.command,
            ms(c.wallMs.median),
            ms(c.wallMs.max),
            c.ratio.toFixed(2),
            c.goal,
            c.met ? 'yes' : 'NO',
          ]),
        ) +
          `\n(node -e 0: median ${ms(report.baseline.wallMs.median)}; ${report.runs} runs each, ${report.machine.cpus} CPUs)\n` +
          report.notes.map((n) => `note: ${n}\n`).join(''),
      );
    });
  registerBenchScale(bench);
  return bench;
}
