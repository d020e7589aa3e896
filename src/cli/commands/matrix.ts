import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { hostHasIpvs } from '../../harness/requirements.js';
import {
  EVENT_IDS,
  MATRIX_MODES,
  kubeProxyVariants,
  mergeReports,
  modeConfig,
  needsIpvs,
  renderComparison,
  parseModes,
  REPORT_JSON,
  REPORT_MD,
  renderMarkdown,
  renderText,
  runMatrix,
  runMatrixInVm,
  selectEvents,
  type MatrixReport,
} from '../../persistence/index.js';
import { UsageError } from '../errors.js';
import { mergeAfterRun, readMergeBase } from './merge-base.js';
import { loadTopology } from './topology-file.js';

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${name} must be a positive integer, got "${v}"`);
  return n;
};

function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * `svclab matrix`: the connection-persistence matrix (rows events, columns proxy modes). Modes
 * this kernel cannot run (IPVS without IP_VS) run inside the VM and are merged in.
 */
export function register(program: Command): Command {
  return program
    .command('matrix')
    .description(
      'measure what long-lived TCP and UDP flows do across Service updates, per proxy mode; JSON + Markdown',
    )
    .option(
      '--modes <list>',
      `comma-separated (${MATRIX_MODES.join(', ')})`,
      'iptables-full,iptables-partial,nftables,ipvs',
    )
    .option('--events <list>', `comma-separated event ids (default all: ${EVENT_IDS.join(', ')})`)
    .option('--topology <file>', 'topology file (default topologies/persistence.yaml)')
    .option(
      '--stall-ms <ms>',
      'no answer for this long after the update: stalled',
      positive('--stall-ms'),
    )
    .option('--no-known-bugs', 'skip the known-bug cases')
    .option(
      '--kube-version <list>',
      'kube-proxy modes: run with these releases (comma-separated; two or more compare them)',
    )
    .option(
      '--kube-proxy-binary <path>',
      'kube-proxy modes: run this build (repeat to compare builds)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--vm <when>',
      'run modes the host kernel lacks in the VM: auto (default) or never',
      'auto',
    )
    .option('--out <dir>', `write ${REPORT_JSON} and ${REPORT_MD} here`)
    .option(
      '--merge-into <dir>',
      `add the modes measured now to the ${REPORT_JSON} in this folder (a mode measured again replaces its column) and rewrite both files there`,
    )
    .option('--json', 'print the JSON report instead of the table')
    .action(async (o) => {
      const modes = usage(() => parseModes(String(o.modes)));
      const events = o.events
        ? String(o.events)
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined;
      usage(() => selectEvents(events));
      if (o.vm !== 'auto' && o.vm !== 'never')
        throw new UsageError(`--vm must be auto or never, got "${o.vm}"`);
      const topologyFile = o.topology ? resolve(String(o.topology)) : undefined;
      if (topologyFile) await loadTopology(topologyFile);
      // Read before measuring, so a bad --merge-into does not cost a run, and again after it, so
      // columns another run merged into the folder meanwhile are kept.
      const readBase = () =>
        o.mergeInto
          ? readMergeBase<MatrixReport>(
              String(o.mergeInto),
              REPORT_JSON,
              'a persistence matrix report',
              (r) => r.kind === 'PersistenceMatrix' && Array.isArray(r.modes),
            )
          : Promise.resolve(undefined);
      await readBase();
      const progress = (line: string) => process.stderr.write(`svclab: ${line}\n`);
      const watch = o.stallMs ? { stallMs: o.stallMs as number } : undefined;
      // Never recurse: inside the VM every mode runs (or is skipped) where it is.
      const inVm = process.env.SVCLAB_IN_VM === '1';
      const viaVm = modes.filter((m) => needsIpvs(m) && !hostHasIpvs() && !inVm && o.vm === 'auto');
      const here = modes.filter((m) => !viaVm.includes(m));
      const variants = usage(() =>
        kubeProxyVariants(o.kubeVersion as string | undefined, o.kubeProxyBinary as string[]),
      );
      if (variants.length > 0 && !modes.some((m) => modeConfig(m).kubeProxy))
        throw new UsageError(
          `--kube-version/--kube-proxy-binary: only with a kube-proxy mode in --modes (got ${modes.join(',')})`,
        );
      let report: MatrixReport = await runMatrix({
        modes: here,
        variants,
        events,
        topologyFile,
        knownBugs: o.knownBugs,
        watch,
        onProgress: progress,
      });
      if (viaVm.length > 0) {
        progress(`${viaVm.join(', ')}: the host kernel has no IP_VS; running in the VM`);
        const args = [
          ...(events ? ['--events', events.join(',')] : []),
          ...(topologyFile ? ['--topology', topologyFile] : []),
          ...(o.stallMs ? ['--stall-ms', String(o.stallMs)] : []),
          ...(o.knownBugs === false ? ['--no-known-bugs'] : []),
          ...(o.kubeVersion ? ['--kube-version', String(o.kubeVersion)] : []),
          ...((o.kubeProxyBinary as string[] | undefined) ?? []).flatMap((b) => [
            '--kube-proxy-binary',
            resolve(b),
          ]),
        ];
        const fromVm = await runMatrixInVm({
          modes: viaVm,
          args,
          // The VM runs the same launcher this process was started from.
          cli: process.argv[1],
          onOutput: (c) => process.stderr.write(c),
        });
        report = mergeReports(report, fromVm);
      }
      report = await mergeAfterRun({
        made: report,
        readBase,
        merge: mergeReports,
        keepIn: String(o.out ?? o.mergeInto ?? '.'),
        keepAs: 'persistence-matrix.unmerged.json',
      });
      for (const out of [o.out, o.mergeInto].filter(Boolean)) {
        const dir = resolve(String(out));
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, REPORT_JSON), JSON.stringify(report, null, 2) + '\n');
        await writeFile(join(dir, REPORT_MD), renderMarkdown(report));
        progress(`wrote ${join(dir, REPORT_JSON)} and ${join(dir, REPORT_MD)}`);
      }
      process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : renderText(report));
      if (variants.length > 1) process.stdout.write('\n' + renderComparison(report));
      if (report.modes.some((m) => m.failures.length > 0)) process.exitCode = 1;
    });
}
