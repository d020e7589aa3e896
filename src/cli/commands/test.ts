import type { Command } from 'commander';
import { Option } from 'commander';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { getProvider } from '../../cluster/providers.js';
import { runInVm, shouldUseVm } from '../../vm/index.js';
import { UsageError } from '../errors.js';
import { checkRealProxyOptions } from './real-proxy.js';
import { printJson, table } from '../format.js';
import { packageRoot } from '../package-root.js';
import {
  backendOption,
  kubeProxyBinaryOption,
  proxyCommandOption,
  proxyModeOption,
  realProxyOption,
  syncOption,
} from './options.js';
import {
  formatSummary,
  formatSummaryMarkdown,
  summarizeResults,
  type ResultsSummary,
} from '../../harness/results.js';
import { resolveTestTarget } from '../test-target.js';
import { SKIP_LOG_ENV, skipLogOf } from '../../harness/skip-log.js';

interface VitestJson {
  testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
}

export function register(program: Command): void {
  program
    .command('test')
    .description(
      "run the e2e suites, or a project's own test files, against a proxy mode (every suite runs unchanged against every mode)",
    )
    .argument(
      '[suites-or-files...]',
      'suite folders under suites/ (default: all), or your own test files and globs (./e2e/**/*.test.ts)',
    )
    .addOption(realProxyOption())
    .addOption(proxyModeOption())
    .addOption(proxyCommandOption())
    .addOption(kubeProxyBinaryOption())
    .option('--control-plane', 'labs run the real control plane (implied by --proxy kube-proxy)')
    .addOption(syncOption())
    .addOption(backendOption())
    .addOption(
      new Option('--provider <name>', 'where labs are built').default(
        process.env.SVCLAB_PROVIDER ?? 'netns',
      ),
    )
    .option('--repeat <n>', 'run the suites N times and report the pass rate per test', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new UsageError(`--repeat must be a positive integer, got "${v}"`);
      return n;
    })
    .option('--json', 'with --repeat: machine-readable pass rates')
    .option(
      '--junit <file>',
      'also write a JUnit XML report (with --repeat, one per run: FILE, FILE-1...)',
    )
    .option(
      '--summary <file>',
      'append a Markdown summary (results, failures, every skip with its reason), e.g. "$GITHUB_STEP_SUMMARY"',
    )
    .action(async (targets: string[], o) => {
      checkRealProxyOptions(o);
      const root = packageRoot();
      const target = resolveTestTarget(targets, { cwd: process.cwd(), packageRoot: root });
      const env = {
        ...target.env,
        SVCLAB_PROXY: o.proxy,
        ...(o.proxy === 'kube-proxy'
          ? {
              SVCLAB_PROXY_MODE: o.proxyMode ?? 'iptables',
              // Absolute: the built-in suites run from svclab's package folder, not the user's.
              ...(o.kubeProxyBinary
                ? { SVCLAB_KUBE_PROXY_BINARY: resolve(process.cwd(), o.kubeProxyBinary) }
                : {}),
              ...(o.proxyCommand ? { SVCLAB_PROXY_COMMAND: o.proxyCommand } : {}),
            }
          : {}),
        ...(o.controlPlane ? { SVCLAB_CONTROL_PLANE: '1' } : {}),
        SVCLAB_SYNC: o.sync,
        SVCLAB_IPTABLES_BACKEND: o.iptablesBackend,
        SVCLAB_PROVIDER: o.provider,
      };
      const runs = o.repeat ?? 1;
      // IPVS needs IP_VS and dummy interfaces: on a host kernel without them the suites run
      // inside the VM (SVCLAB_VM=auto|always|never decides), unchanged.
      const vm =
        o.proxy === 'ipvs' ||
        (o.proxy === 'kube-proxy' && o.proxyMode === 'ipvs') ||
        process.env.SVCLAB_VM === 'always'
          ? await shouldUseVm(['ipvs', 'dummy', 'ipset'])
          : undefined;
      if (vm)
        process.stderr.write(
          `svclab: ${vm.useVm ? 'running the suites in the VM' : 'running the suites on the host'}: ${vm.reason}\n`,
        );
      const runVitest = async (args: string[], skipLog: string) => {
        if (!vm?.useVm)
          return (
            (
              await execa(target.vitest, args, {
                cwd: target.cwd,
                env: { ...env, [SKIP_LOG_ENV]: skipLog },
                // With --json, stdout carries only the report: vitest's own output goes to stderr.
                stdio: ['inherit', o.json ? 2 : 'inherit', 'inherit'],
                reject: false,
              })
            ).exitCode ?? 1
          );
        const r = await runInVm({
          command: [target.vitest, ...args],
          cwd: target.cwd,
          env: { ...process.env, ...env, [SKIP_LOG_ENV]: skipLog },
          onOutput: o.json ? (_stream, chunk) => process.stderr.write(chunk) : undefined,
        });
        return r.exitCode;
      };
      const tally = new Map<string, { passed: number; failed: number }>();
      let exitCode = 0;
      let summary: ResultsSummary | undefined;
      // Inside the project, not /tmp: the VM shares only the project folder back to the host.
      await mkdir(join(target.cwd, '.svclab'), { recursive: true });
      const dir = await mkdtemp(join(target.cwd, '.svclab', 'test-'));
      try {
        for (let i = 0; i < runs; i++) {
          const out = join(dir, `run-${i}.json`);
          const reporters = ['--reporter=default', '--reporter=json', `--outputFile.json=${out}`];
          if (o.junit)
            reporters.push('--reporter=junit', `--outputFile.junit=${junitFile(o.junit, i)}`);
          const code = await runVitest(
            ['run', ...target.args, ...reporters],
            skipLogOf(dir, `run-${i}`),
          );
          if (code !== 0) exitCode = code;
          if (o.repeat && existsSync(out)) {
            const json = JSON.parse(await readFile(out, 'utf8')) as VitestJson;
            for (const f of json.testResults) {
              for (const t of f.assertionResults) {
                if (t.status !== 'passed' && t.status !== 'failed') continue;
                const key = `${relative(target.cwd, f.name)} > ${t.fullName}`;
                const e = tally.get(key) ?? { passed: 0, failed: 0 };
                e[t.status as 'passed' | 'failed']++;
                tally.set(key, e);
              }
            }
          }
        }
        // Every skip with its reason; one that no declaration expects on this machine fails the
        // run even when vitest itself passed (src/harness/declared-skips.ts).
        summary = summarizeResults(dir, target.cwd);
        process.stderr.write(`\n${formatSummary(summary)}\n`);
        if (o.summary) {
          // The suites' own label (e.g. `kube-proxy-nftables`, `iptables/partial/nft+cp`), so the
          // job summary names the mode the titles and dumps name.
          const { suiteConfig } = await import('../../harness/config.js');
          const mode = suiteConfig(env).label;
          await appendFile(
            resolve(o.summary),
            formatSummaryMarkdown(summary, `svclab test (${mode}, ${o.provider})`) + '\n',
          );
        }
        if (!summary.ok && exitCode === 0) exitCode = 1;
      } finally {
        await rm(dir, { recursive: true, force: true });
        // A run interrupted mid-suite leaves its harness labs; their owner is gone now.
        await getProvider('netns')
          .then((p) => p.sweep())
          .catch(() => undefined);
      }
      if (o.repeat) {
        const rows = [...tally].map(([name, t]) => ({
          name,
          passed: t.passed,
          runs: t.passed + t.failed,
          rate: t.passed / (t.passed + t.failed),
        }));
        const total = rows.reduce(
          (a, r) => ({ passed: a.passed + r.passed, runs: a.runs + r.runs }),
          { passed: 0, runs: 0 },
        );
        if (o.json)
          printJson({
            proxy: o.proxy,
            sync: o.sync,
            repeat: runs,
            tests: rows,
            total,
            skips: summary?.skips ?? [],
          });
        else {
          process.stdout.write(
            '\n' +
              table(
                ['PASS RATE', 'TEST'],
                rows.map((r) => [`${r.passed}/${r.runs}`, r.name]),
              ) +
              '\n',
          );
          process.stdout.write(
            `\n${runs} runs, ${rows.filter((r) => r.rate === 1).length}/${rows.length} tests passed every run, ${total.passed}/${total.runs} test runs passed\n`,
          );
        }
      }
      process.exitCode = exitCode;
    });
}

/** The JUnit file of run `i`: the name given for the first, `-i` before the extension after. */
function junitFile(file: string, i: number): string {
  const abs = resolve(file);
  return i === 0 ? abs : abs.replace(/(\.[^./]+)?$/, (ext) => `-${i}${ext}`);
}
