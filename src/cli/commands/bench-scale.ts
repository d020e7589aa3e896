import type { Command } from 'commander';
import { execa } from 'execa';
import { resolve } from 'node:path';
import {
  DEFAULT_BUDGET_SECONDS,
  DEFAULT_SERVICES,
  QUICK_BUDGET_SECONDS,
  QUICK_MAX_SERVICES,
  parseScaleModes,
  runScaleBench,
  SCALE_MODES,
  writeScaleReport,
  readScaleReport,
  mergeReports,
  type ScaleMode,
} from '../../bench/scale/index.js';
import { isKubeProxyMode, KUBE_PROXY_SCALE_MODES } from '../../bench/scale/modes.js';
import { seriesOf } from '../../bench/scale/report.js';
import { DEFAULT_KUBE_VERSION, parseKubeVersion } from '../../kube/versions.js';
import { MAX_SERVICES } from '../../bench/scale/state.js';
import { UsageError } from '../errors.js';
import { table } from '../format.js';
import { packageRoot } from '../package-root.js';

const int =
  (name: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`${name} must be an integer in ${min}..${max}, got "${v}"`);
    return n;
  };

function servicesList(v: string): number[] {
  const list = v.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1 || n > MAX_SERVICES))
    throw new UsageError(
      `--services must be a comma-separated list of integers in 1..${MAX_SERVICES}, got "${v}"`,
    );
  return [...new Set(list)].sort((a, b) => a - b);
}

/**
 * V8's default stack (~1 MB) was too small for the iptables planner above ~15,000 Services: its
 * restore writer spread every rule line into one push() call (RangeError: Maximum call stack
 * size exceeded). The planner appends in loops now; the larger stack (still inside the main
 * thread's 8 MiB) stays as a guard until an iptables run at 50,000 has been made without it.
 */
const STACK_FLAG = '--stack-size=6000';

export function registerBenchScale(bench: Command): Command {
  return bench
    .command('scale')
    .description(
      "programming cost, data-path cost and memory of each proxy mode versus the number of Services (the talk's three tables); writes JSON, CSV, Markdown and SVG charts",
    )
    .option('--modes <list>', `proxy modes (${SCALE_MODES.join(', ')})`, SCALE_MODES.join(','))
    .option(
      '--services <list>',
      `numbers of Services (default ${DEFAULT_SERVICES.join(',')}; --quick: up to ${QUICK_MAX_SERVICES})`,
    )
    .option('--endpoints <n>', 'endpoints per Service', int('--endpoints', 1, 16), 2)
    .option(
      '--node-port-every <n>',
      'one Service in n is a NodePort Service (0: none)',
      int('--node-port-every', 0),
      10,
    )
    .option(
      '--quick',
      `up to ${QUICK_MAX_SERVICES} Services, fewer repetitions, ${QUICK_BUDGET_SECONDS} s budget`,
    )
    .option(
      '--budget <seconds>',
      `time budget; Ns predicted not to fit are skipped (default ${DEFAULT_BUDGET_SECONDS}, --quick ${QUICK_BUDGET_SECONDS})`,
      int('--budget', 10),
    )
    .option(
      '--connections <n>',
      'new connections per Service for the latency measurement',
      int('--connections', 1, 100_000),
    )
    .option('--iperf-seconds <s>', 'iperf3 run length per Service', int('--iperf-seconds', 1, 60))
    .option(
      '--out <dir>',
      'write scale.json, scale.csv, scale.md and charts/ here',
      'svclab-bench-scale',
    )
    .option(
      '--merge-into <dir>',
      "merge this run's measured cells into the report in <dir> (replacing the same mode and N) and write the result to --out",
    )
    .option(
      '--kube-version <list>',
      `Kubernetes releases whose kube-proxy the kube-proxy-* modes run, comma-separated, each mode once per release (default ${DEFAULT_KUBE_VERSION}; built from source when not cached)`,
    )
    .option('--json', 'also print the JSON report')
    .action(async (o) => {
      const modes: ScaleMode[] = (() => {
        try {
          return parseScaleModes(String(o.modes));
        } catch (err) {
          throw new UsageError(`--modes: ${(err as Error).message}`);
        }
      })();
      const quick = o.quick === true;
      let services = o.services ? servicesList(String(o.services)) : DEFAULT_SERVICES;
      if (quick) {
        const over = services.filter((n) => n > QUICK_MAX_SERVICES);
        if (o.services && over.length > 0)
          throw new UsageError(
            `--quick measures up to ${QUICK_MAX_SERVICES} Services; drop ${over.join(', ')} or --quick`,
          );
        services = services.filter((n) => n <= QUICK_MAX_SERVICES);
      }
      const needsStack =
        modes.some((m) => m.startsWith('iptables')) && Math.max(...services) > 10_000;
      if (
        needsStack &&
        !process.execArgv.some((a) => a.startsWith('--stack-size')) &&
        process.env.SVCLAB_BENCH_REEXEC !== '1'
      ) {
        const r = await execa(
          process.execPath,
          [...process.execArgv, STACK_FLAG, ...process.argv.slice(1)],
          { stdio: 'inherit', reject: false, env: { SVCLAB_BENCH_REEXEC: '1' } },
        );
        process.exitCode = r.exitCode ?? 1;
        return;
      }
      const kubeVersions = o.kubeVersion
        ? [
            ...new Set(
              String(o.kubeVersion)
                .split(',')
                .map((v) => v.trim())
                .filter(Boolean)
                .map((v) => parseKubeVersion(v).version),
            ),
          ]
        : undefined;
      if (kubeVersions && !modes.some(isKubeProxyMode))
        throw new UsageError(
          `--kube-version: no kube-proxy mode in --modes (${KUBE_PROXY_SCALE_MODES.join(', ')})`,
        );
      const out = resolve(String(o.out));
      // Read the report to merge into before spending minutes on the run.
      const mergeBase = o.mergeInto ? await readScaleReport(String(o.mergeInto)) : undefined;
      const run = await runScaleBench({
        root: packageRoot(),
        modes,
        services,
        endpoints: o.endpoints,
        nodePortEvery: o.nodePortEvery,
        quick,
        budgetSeconds: o.budget ?? (quick ? QUICK_BUDGET_SECONDS : DEFAULT_BUDGET_SECONDS),
        connections: o.connections ?? (quick ? 30 : 200),
        iperfSeconds: o.iperfSeconds ?? (quick ? 1 : 2),
        kubeVersions,
        onProgress: (l) => process.stderr.write(`svclab: ${l}\n`),
      });
      const report = mergeBase ? mergeReports(mergeBase, run) : run;
      const files = await writeScaleReport(out, report);
      if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else {
        const ms = (v: number | undefined) =>
          v === undefined || !Number.isFinite(v)
            ? '-'
            : v < 10
              ? `${v.toFixed(2)} ms`
              : `${v.toFixed(0)} ms`;
        process.stdout.write(
          table(
            [
              'MODE',
              'SERVICES',
              'STATUS',
              'FULL SYNC',
              'ADD ONE',
              'CHANGE ONE',
              'CONN FIRST',
              'CONN LAST',
            ],
            run.cells.map((c) => [
              seriesOf(c),
              c.services,
              c.status,
              ms(c.programming?.full.ms),
              ms(c.programming?.addOne.ms.median),
              ms(c.programming?.changeEndpoints.ms.median),
              ms(c.dataPath?.[0]?.connectMs.median),
              ms(c.dataPath?.[1]?.connectMs.median),
            ]),
          ) + `\n(${files.length} files in ${out})\n`,
        );
      }
      if (run.cells.some((c) => c.status === 'failed')) process.exitCode = 1;
    });
}
