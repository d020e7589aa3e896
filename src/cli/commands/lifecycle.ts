import type { Command } from 'commander';
import { Option } from 'commander';
import { getProvider, providerOfLab, PROVIDERS } from '../../cluster/providers.js';
import { listLabDirs, readLabState } from '../../cluster/state.js';
import { loadTopology as loadTopologyFile } from '../../model/index.js';
import { parseProxyMode } from '../../proxy/index.js';
import type { DownReport } from '../../cluster/provider.js';
import { DryRunComplete } from '../../cluster/kind/provider.js';
import { describeLab, formatLab } from '../describe.js';
import { printJson, table } from '../format.js';
import { selectLab } from '../lab-select.js';
import { UsageError } from '../errors.js';
import { sweepVmsIfAny } from '../sweep.js';

/** Reads a topology file; a missing or unreadable file is bad input (exit 2), not a crash. */
export async function loadTopology(file: string) {
  try {
    return await loadTopologyFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR')
      throw new UsageError(
        `cannot read topology file ${file}: ${code === 'ENOENT' ? 'no such file' : code}`,
      );
    throw err;
  }
}

export const proxyOption = () =>
  new Option('--proxy <mode>', 'Service proxy mode')
    .choices(['iptables', 'nftables', 'ipvs', 'none'])
    .default(process.env.SVCLAB_PROXY ?? 'iptables');
export const syncOption = () =>
  new Option('--sync <strategy>', 'iptables sync strategy')
    .choices(['full', 'partial'])
    .default('partial');
export const backendOption = () =>
  new Option('--iptables-backend <backend>', 'iptables command backend')
    .choices(['nft', 'legacy'])
    .default('nft');
export const schedulerOption = () =>
  new Option('--scheduler <name>', 'IPVS scheduler')
    .choices(['rr', 'wrr', 'lc', 'sh'])
    .default('rr');

/**
 * Every lab on this machine, through its own provider, then whatever crashed runs left without
 * a readable state: netns namespaces, labelled Docker objects, VMs.
 */
async function downAll(): Promise<DownReport[]> {
  const reports: DownReport[] = [];
  for (const lab of await listLabDirs()) {
    const provider = await providerOfLab(lab).catch(() => getProvider('netns'));
    reports.push(
      await provider
        .down(lab)
        .catch((err: unknown) => ({ lab, removed: [], errors: [String(err)] })),
    );
  }
  reports.push(...(await getProvider('netns').sweep({ all: true })));
  if (await dockerAnswers())
    reports.push(
      ...(await getProvider('docker')
        .sweep({ all: true })
        .catch((err: unknown) => [{ lab: '(docker)', removed: [], errors: [String(err)] }])),
    );
  const vms = await sweepVmsIfAny();
  if (vms > 0) reports.push({ lab: '(vm)', removed: [`${vms} VM process(es)`], errors: [] });
  return reports.filter(
    (r) => r.removed.length > 0 || r.errors.length > 0 || !r.lab.startsWith('('),
  );
}

async function dockerAnswers(): Promise<boolean> {
  const { existsSync } = await import('node:fs');
  return existsSync(
    (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, ''),
  );
}

export function registerLifecycle(program: Command): void {
  program
    .command('up')
    .description('build a lab from a topology file and program every node')
    .argument('<topology>', 'topology file (YAML)')
    .option('--name <name>', 'lab name (default: the topology name)')
    .addOption(proxyOption())
    .addOption(syncOption())
    .addOption(backendOption())
    .addOption(schedulerOption())
    .addOption(
      new Option('--provider <name>', 'where nodes live').choices([...PROVIDERS]).default('netns'),
    )
    .option('--keep-on-failure', 'keep what was created when a phase fails')
    .option(
      '--dry-run',
      'kind: print the kind config, manifests and commands instead of running them',
    )
    .option('--kubeconfig <path>', 'kubeconfig provider: kubeconfig file')
    .option('--context <name>', 'kubeconfig provider: context')
    .option(
      '--namespace <name>',
      'kubeconfig provider: namespace to create (labelled, deleted on down)',
    )
    .option('--nodes <placement>', 'kubeconfig provider: a=node1,b=node2 | label:KEY | spread')
    .addOption(
      new Option(
        '--external-hosts <how>',
        'kubeconfig provider: external hosts as hostNetwork pods, or none',
      ).choices(['pod', 'none']),
    )
    .option(
      '--privileged-debug',
      'kubeconfig provider: allow a privileged debug pod per node for rule dumps',
    )
    .option(
      '--allow-proxy-restart',
      "kubeconfig provider: allow restarting kube-proxy (deleting its pods on the lab's nodes)",
    )
    .option('--json', 'machine-readable output')
    .action(async (file: string, o) => {
      const topology = await loadTopology(file);
      const name: string = o.name ?? topology.name;
      // The cluster providers resolve their options from the environment once, at construction.
      const env: Record<string, string | undefined> = {
        SVCLAB_DRY_RUN: o.dryRun ? '1' : undefined,
        SVCLAB_KUBECONFIG: o.kubeconfig,
        SVCLAB_KUBE_CONTEXT: o.context,
        SVCLAB_KUBE_NAMESPACE: o.namespace,
        SVCLAB_NODES: o.nodes,
        SVCLAB_EXTERNAL_HOSTS: o.externalHosts,
        SVCLAB_PRIVILEGED_DEBUG: o.privilegedDebug ? '1' : undefined,
        SVCLAB_ALLOW_PROXY_RESTART: o.allowProxyRestart ? '1' : undefined,
      };
      for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
      const provider = getProvider(o.provider);
      // Ctrl-C or a kill during `up` must not leave half a lab behind.
      const abort = async (signal: NodeJS.Signals) => {
        process.stderr.write(`svclab: ${signal} during up: removing lab ${name}\n`);
        await provider.down(name).catch(() => undefined);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      };
      process.once('SIGINT', abort);
      process.once('SIGTERM', abort);
      const t0 = performance.now();
      const lab = await provider
        .up(topology, {
          name,
          proxy: parseProxyMode(o.proxy),
          proxyOptions: {
            syncStrategy: o.sync,
            iptablesBackend: o.iptablesBackend,
            ipvsScheduler: o.scheduler,
          },
          topologyFile: file,
          keepOnFailure: o.keepOnFailure,
          progress: o.json ? 'silent' : undefined,
        })
        .catch((err: unknown) => {
          if (err instanceof DryRunComplete) return undefined;
          throw err;
        });
      if (!lab) return; // --dry-run printed the plan
      process.removeListener('SIGINT', abort);
      process.removeListener('SIGTERM', abort);
      const ms = Math.round(performance.now() - t0);
      const d = describeLab(lab);
      for (const w of topology.warnings) process.stderr.write(`warning: ${w.path}: ${w.message}\n`);
      if (o.json) printJson({ ...d, upMs: ms });
      else {
        process.stdout.write(`${formatLab(d)}\n\nlab ${name} is up in ${ms} ms. Next:\n`);
        const pod = topology.pods.find((p) => !p.hostNetwork)?.name;
        const svc = topology.services[0]?.name;
        if (pod && svc) process.stdout.write(`  svclab probe ${pod} ${svc} --count 20\n`);
        process.stdout.write(
          `  svclab exec ${topology.nodes[0]?.name ?? 'node'} -- iptables-save\n  svclab dump ${topology.nodes[0]?.name ?? 'node'}\n  svclab down ${name}\n`,
        );
      }
      await lab.detach();
    });

  program
    .command('status')
    .description('list labs, or describe one')
    .argument('[lab]', 'lab name')
    .option('--json', 'machine-readable output')
    .action(async (name: string | undefined, o) => {
      if (!name) {
        const labs = [];
        for (const lab of await listLabDirs()) {
          const st = await readLabState(lab).catch(() => undefined);
          labs.push({
            name: lab,
            provider: st?.provider ?? '?',
            proxy: st?.proxy.mode ?? '?',
            phase: st?.phase ?? 'broken',
            createdAt: st?.createdAt,
            nodes: st?.topology.nodes.length ?? 0,
            pods: st?.topology.pods.length ?? 0,
          });
        }
        if (o.json) return printJson(labs);
        if (labs.length === 0) return void process.stdout.write('no labs\n');
        return void process.stdout.write(
          table(
            ['LAB', 'PROVIDER', 'PROXY', 'PHASE', 'NODES', 'PODS', 'CREATED'],
            labs.map((l) => [l.name, l.provider, l.proxy, l.phase, l.nodes, l.pods, l.createdAt]),
          ) + '\n',
        );
      }
      const lab = await (await providerOfLab(name)).attach(name);
      const d = describeLab(lab);
      if (o.json) printJson(d);
      else process.stdout.write(formatLab(d) + '\n');
    });

  program
    .command('down')
    .description('remove a lab and everything it created')
    .argument('[lab]', 'lab name')
    .option('--all', 'remove every svclab lab on this machine (and leftovers of crashed runs)')
    .option('--json', 'machine-readable output')
    .action(async (name: string | undefined, o) => {
      if (!name && !o.all) throw new UsageError('say which lab to remove, or --all');
      let reports: DownReport[];
      if (o.all) {
        reports = await downAll();
      } else {
        const provider = await providerOfLab(name!).catch(() => getProvider('netns'));
        reports = [await provider.down(name!)];
      }
      if (o.json) printJson(reports);
      else {
        for (const r of reports)
          process.stdout.write(
            `lab ${r.lab}: removed ${r.removed.length > 0 ? r.removed.join(', ') : 'nothing'}\n`,
          );
        if (reports.length === 0) process.stdout.write('nothing to remove\n');
      }
      const errors = reports.flatMap((r) => r.errors.map((e) => `lab ${r.lab}: ${e}`));
      if (errors.length > 0) throw new Error(`some cleanup failed:\n${errors.join('\n')}`);
    });

  program
    .command('sweep')
    .description(
      'remove what crashed runs left behind (labs whose creator died mid-way, test labs)',
    )
    .option('--json', 'machine-readable output')
    .action(async (o) => {
      const reports = await getProvider('netns').sweep();
      if (await dockerAnswers())
        reports.push(
          ...(await getProvider('docker')
            .sweep()
            .catch(() => [])),
        );
      const vms = await sweepVmsIfAny();
      if (o.json) return printJson({ labs: reports, vms });
      for (const r of reports)
        process.stdout.write(`lab ${r.lab}: removed ${r.removed.join(', ') || 'nothing'}\n`);
      process.stdout.write(`${reports.length} lab(s), ${vms} VM(s) swept\n`);
    });

  program
    .command('validate')
    .description('check topology files; every problem is reported with its path')
    .argument('<files...>')
    .action(async (files: string[]) => {
      for (const f of files) {
        const t = await loadTopology(f);
        for (const w of t.warnings)
          process.stderr.write(`${f}: warning: ${w.path}: ${w.message}\n`);
        process.stdout.write(
          `${f}: valid (${t.nodes.length} nodes, ${t.pods.length} pods, ${t.services.length} services)\n`,
        );
      }
    });

  program.command('select-lab', { hidden: true }).action(async () => {
    process.stdout.write((await selectLab(undefined)) + '\n');
  });
}
