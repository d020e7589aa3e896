import type { Command } from 'commander';
import { Option } from 'commander';
import { getProvider, PROVIDERS } from '../../cluster/providers.js';
import { DryRunComplete } from '../../cluster/dry-run.js';
import { parseProxyMode } from '../../proxy/index.js';
import { describeLab, formatLab } from '../describe.js';
import { printJson } from '../format.js';
import {
  backendOption,
  isTruthy,
  kubeBinDirOption,
  kubeVersionOption,
  kubeProxyBinaryOption,
  proxyCommandOption,
  proxyModeOption,
  realProxyOption,
  schedulerOption,
  syncOption,
} from './options.js';
import { UsageError } from '../errors.js';
import { loadTopology } from './topology-file.js';
import { checkRealProxyOptions } from './real-proxy.js';

export function register(program: Command): void {
  program
    .command('up')
    .description('build a lab from a topology file and program every node')
    .argument('<topology>', 'topology file (YAML)')
    .option('--name <name>', 'lab name (default: the topology name)')
    .addOption(realProxyOption())
    .addOption(proxyModeOption())
    .addOption(proxyCommandOption())
    .addOption(kubeProxyBinaryOption())
    .addOption(syncOption())
    .addOption(backendOption())
    .addOption(schedulerOption())
    .addOption(
      new Option('--provider <name>', 'where nodes live').choices([...PROVIDERS]).default('netns'),
    )
    .option('--keep-on-failure', 'keep what was created when a phase fails')
    .option(
      '--control-plane',
      'netns provider: run etcd, kube-apiserver and kube-controller-manager in the lab (env SVCLAB_CONTROL_PLANE=1)',
    )
    .addOption(kubeVersionOption())
    .addOption(kubeBinDirOption())
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
      const provider = await getProvider(o.provider);
      // Ctrl-C or a kill during `up` must not leave half a lab behind.
      const abort = async (signal: NodeJS.Signals) => {
        process.stderr.write(`svclab: ${signal} during up: removing lab ${name}\n`);
        await provider.down(name).catch(() => undefined);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      };
      process.once('SIGINT', abort);
      process.once('SIGTERM', abort);
      const t0 = performance.now();
      const realProxy = o.proxy === 'kube-proxy';
      checkRealProxyOptions(o);
      // The real kube-proxy watches an API server: it implies the control plane.
      const controlPlane =
        realProxy || Boolean(o.controlPlane) || isTruthy(process.env.SVCLAB_CONTROL_PLANE);
      if (controlPlane && o.provider !== 'netns')
        throw new UsageError(
          `--control-plane: only the netns provider runs a control plane (got --provider ${o.provider})`,
        );
      const lab = await provider
        .up(topology, {
          name,
          controlPlane,
          kube: { version: o.kubeVersion, binDir: o.kubeBinDir },
          proxy: realProxy ? 'none' : parseProxyMode(o.proxy),
          kubeProxy: realProxy
            ? {
                mode: o.proxyMode ?? 'iptables',
                binary: o.kubeProxyBinary,
                command: o.proxyCommand,
              }
            : undefined,
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
}
