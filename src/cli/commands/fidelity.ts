import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { FullFidelityReport } from '../../fidelity/report.js';
import { mergeAfterRun, readMergeBase } from './merge-base.js';
import { loadTopology } from './topology-file.js';

const MODES = ['iptables', 'nftables', 'ipvs'];
/** Without --mode: the modes the host compares quickly (IPVS may need the VM: ask for it). */
const DEFAULT_MODES = ['iptables', 'nftables'];
/** Where a run whose --merge-into failed after it is kept (in --out, else the merge folder). */
const UNMERGED_JSON = 'fidelity.unmerged.json';

const integer = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min)
    throw new UsageError(`${name} must be an integer of at least ${min}, got "${v}"`);
  return n;
};

function parseModes(v: string): ('iptables' | 'nftables' | 'ipvs')[] {
  const modes = v
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  if (modes.length === 0) throw new UsageError('--mode: empty list');
  for (const m of modes) {
    if (!MODES.includes(m))
      throw new UsageError(`--mode: unknown mode "${m}" (valid: ${MODES.join(', ')})`);
  }
  return [...new Set(modes)] as ('iptables' | 'nftables' | 'ipvs')[];
}

/**
 * `svclab fidelity`: svclab's planners against the real kube-proxy, rule by rule (issue 15). Exit
 * 1 on any difference src/fidelity/declared.ts does not declare.
 */
export function register(program: Command): Command {
  const root = packageRoot();
  return (
    program
      .command('fidelity')
      .description(
        "compare what svclab's planners write with what the real kube-proxy writes on the same Services and EndpointSlices, per Service port (iptables, nftables, ipvs; ipvs runs in the VM when the host kernel has no IP_VS)",
      )
      .argument('[topology]', 'topology file (default topologies/three-node.yaml)')
      .option('--mode <list>', `comma-separated: ${MODES.join(', ')}`, DEFAULT_MODES.join(','))
      .option('--node <name>', 'the node compared', 'node-a')
      .option('--quick', 'CI: one mode (iptables) on the shipped three-node topology')
      .option(
        '--random <seed>',
        'compare generated Service sets made from this seed',
        integer('--random', 0),
      )
      .option('--count <k>', 'with --random: how many sets', integer('--count', 1))
      .option(
        '--from <n>',
        'with --random: start at set n (the ones before are drawn, not compared; default 1)',
        integer('--from', 1),
      )
      .option('--json', 'print the JSON report instead of the table')
      .option(
        '--out <dir>',
        "write fidelity.json and fidelity.md here (and refresh README.md's declarations there)",
      )
      .option(
        '--merge-into <dir>',
        'add this run to the fidelity.json in this folder (same topology, node and kube-proxy; a source compared again replaces its results) and rewrite both files there',
      )
      // The VM half of a run on a host without IP_VS (src/fidelity/vm.ts): the runs, not a report.
      .addOption(new Option('--runs-out <file>').hideHelp())
      .action(async (file: string | undefined, o) => {
        if (o.quick && (file || o.random !== undefined))
          throw new UsageError(
            '--quick compares the shipped topology: leave out the topology file and --random',
          );
        if ((o.random === undefined) !== (o.count === undefined))
          throw new UsageError('--random and --count go together');
        if (o.from !== undefined && o.random === undefined)
          throw new UsageError('--from: only with --random');
        const {
          buildReport,
          mergeFidelityReports,
          mergeMismatch,
          renderMarkdown,
          renderText,
          REPORT_JSON,
          REPORT_MD,
        } = await import('../../fidelity/report.js');
        // Read before comparing, so a bad --merge-into does not cost a run, and again after it,
        // so a part that finished meanwhile into the same folder (a run split across VMs or
        // machines) is kept, not overwritten with the copy read an hour earlier.
        const readBase = () =>
          o.mergeInto
            ? readMergeBase<FullFidelityReport>(
                String(o.mergeInto),
                REPORT_JSON,
                'a fidelity report',
                (r) =>
                  r.kind === 'FidelityReport' && Array.isArray(r.results) && Array.isArray(r.modes),
              )
            : Promise.resolve(undefined);
        const mergeBase = await readBase();
        const modes =
          o.quick && o.mode === DEFAULT_MODES.join(',')
            ? ['iptables' as const]
            : parseModes(String(o.mode));
        const topologyFile = resolve(file ?? join(root, 'topologies', 'three-node.yaml'));
        const topo = await loadTopology(topologyFile);
        if (!topo.nodes.some((n) => n.name === o.node))
          throw new UsageError(
            `--node: no node "${o.node}" in ${topologyFile} (have: ${topo.nodes.map((n) => n.name).join(', ')})`,
          );
        const shown = relative(root, topologyFile).startsWith('..')
          ? topologyFile
          : relative(root, topologyFile);
        // Everything merging checks is known before the run, so it is checked before it (the
        // release: SVCLAB_KUBE_VERSION or the pinned one).
        const { kubeOptionsFromEnv, kubeVersionOf } = await import('../../kube/binaries.js');
        const kubeVersion = kubeVersionOf(kubeOptionsFromEnv());
        const mismatch =
          mergeBase &&
          mergeMismatch(mergeBase, { node: String(o.node), topology: shown, kubeVersion });
        if (mismatch) throw new UsageError(`--merge-into: Invalid value: ${mismatch}`);
        const { runFidelity } = await import('../../fidelity/run.js');
        const progress = (line: string) => process.stderr.write(`svclab: ${line}\n`);
        // IPVS needs IP_VS and dummy devices: on a host kernel without them that mode runs in the
        // VM (never from inside it), the others here, and the runs are merged in --mode's order.
        const { hostHasIpvs } = await import('../../harness/requirements.js');
        const viaVm = modes.filter(
          (m) => m === 'ipvs' && process.env.SVCLAB_IN_VM !== '1' && !hostHasIpvs(),
        );
        const random =
          o.random !== undefined
            ? {
                seed: o.random as number,
                count: o.count as number,
                from: o.from as number | undefined,
              }
            : undefined;
        const here = modes.filter((m) => !viaVm.includes(m));
        const run =
          here.length > 0
            ? await runFidelity({
                topologyFile,
                modes: here,
                node: String(o.node),
                random,
                onProgress: progress,
              })
            : { kubeVersion: '', runs: [] };
        if (viaVm.length > 0) {
          progress(`${viaVm.join(', ')}: the host kernel has no IP_VS; running in the VM`);
          const { runFidelityInVm } = await import('../../fidelity/vm.js');
          const fromVm = await runFidelityInVm({
            modes: viaVm,
            args: [
              topologyFile,
              '--node',
              String(o.node),
              ...(random ? ['--random', String(random.seed), '--count', String(random.count)] : []),
              ...(random?.from ? ['--from', String(random.from)] : []),
            ],
            cli: process.argv[1],
            onOutput: (c) => process.stderr.write(c),
          });
          run.kubeVersion ||= fromVm.kubeVersion;
          run.runs = modes.flatMap((m) =>
            [...run.runs, ...fromVm.runs].filter((r) => r.mode === m),
          );
        }
        if (o.runsOut) {
          await writeFile(resolve(String(o.runsOut)), JSON.stringify(run) + '\n');
        }
        const made = buildReport({
          command: ['svclab', ...process.argv.slice(2)].join(' '),
          node: String(o.node),
          topology: shown,
          kubeVersion: run.kubeVersion,
          runs: run.runs,
        });
        const report = await mergeAfterRun({
          made,
          readBase,
          merge: mergeFidelityReports,
          keepIn: String(o.out ?? o.mergeInto),
          keepAs: UNMERGED_JSON,
        });
        const outs = new Set([o.out, o.mergeInto].filter(Boolean).map((d) => resolve(String(d))));
        for (const dir of outs) {
          await mkdir(dir, { recursive: true });
          await writeFile(join(dir, REPORT_JSON), JSON.stringify(report, null, 2) + '\n');
          await writeFile(join(dir, REPORT_MD), renderMarkdown(report));
          const readme = join(dir, 'README.md');
          if (existsSync(readme)) {
            const { refreshDeclarations } = await import('../../fidelity/readme.js');
            await writeFile(readme, refreshDeclarations(await readFile(readme, 'utf8')));
          }
          progress(`wrote ${join(dir, REPORT_JSON)} and ${join(dir, REPORT_MD)}`);
        }
        process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : renderText(report));
        if (report.undeclared > 0) process.exitCode = 1;
      })
  );
}
