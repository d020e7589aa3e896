import type { Command } from 'commander';
import { Option } from 'commander';
import { providerOfLab } from '../../cluster/providers.js';
import { readLabState } from '../../cluster/state.js';
import { runInteractive } from '../../exec/index.js';
import { controlPlaneOf } from '../../controlplane/handle.js';
import {
  KUBE_COMPONENTS,
  parseComponents,
  parseKubeVersion,
  DEFAULT_KUBE_VERSION,
} from '../../kube/versions.js';
import { UsageError } from '../errors.js';
import { printJson } from '../format.js';
import { selectLab } from '../lab-select.js';

/** A lab with a control plane, or a usage error that says how to get one. */
async function controlPlaneLab(named: string | undefined) {
  const name = await selectLab(named);
  const state = await readLabState(name);
  const cp = controlPlaneOf(name, state.extra);
  if (!cp)
    throw new UsageError(
      `lab ${name} has no control plane: start it with \`svclab up <topology> --control-plane\``,
    );
  return { name, state, cp };
}

const registered = new WeakSet<Command>();

/** Registers kube, kubeconfig, kubectl and set-ready (once per program: four names share this module). */
export function register(program: Command): void {
  if (registered.has(program)) return;
  registered.add(program);
  const kube = program.command('kube').description('Kubernetes components: build and list them');
  kube
    .command('build')
    .description(
      'build the Kubernetes components of a release from source (Go module proxy), into the cache',
    )
    .addOption(
      new Option('--kube-version <version>', 'release')
        .env('SVCLAB_KUBE_VERSION')
        .default(DEFAULT_KUBE_VERSION),
    )
    .option(
      '--components <list>',
      `comma-separated (${KUBE_COMPONENTS.join(',')})`,
      KUBE_COMPONENTS.join(','),
    )
    .option('--json', 'machine-readable report')
    .action(async (o) => {
      const version = parseKubeVersion(o.kubeVersion).version;
      // The builder (and execa with it) loads only here: kubeconfig, kubectl and set-ready
      // share this module and are short commands (issue 17).
      const { buildComponents } = await import('../../kube/build.js');
      const report = await buildComponents({
        version,
        components: parseComponents(
          String(o.components)
            .split(',')
            .map((s) => s.trim()),
        ),
      });
      if (o.json) printJson(report);
      else
        process.stdout.write(
          `${version}: ${report.built.length > 0 ? `built ${report.built.join(', ')} in ${Math.round(report.durationMs / 1000)} s` : 'nothing to build'}${report.cached.length > 0 ? `; cached: ${report.cached.join(', ')}` : ''}\n${report.binDir}\n`,
        );
    });

  program
    .command('kubeconfig')
    .description(
      "print the path of a lab's admin kubeconfig (its server is reachable inside the lab: use `svclab kubectl`)",
    )
    .argument('[lab]', 'lab name (default: the only one)')
    .action(async (lab: string | undefined) => {
      const { cp } = await controlPlaneLab(lab);
      process.stdout.write(`${cp.files.adminKubeconfig}\n`);
    });

  program
    .command('kubectl')
    .description(
      "run the lab's kubectl against its API server (inside the control-plane namespace)",
    )
    .argument('<lab>', 'lab name')
    .argument('[args...]', 'kubectl arguments (after --)')
    .action(async (lab: string, args: string[]) => {
      const { cp } = await controlPlaneLab(lab);
      process.exitCode = await runInteractive(
        `${cp.record.binDir}/kubectl`,
        ['--kubeconfig', cp.files.adminKubeconfig, ...args],
        { netns: cp.record.netns },
      );
    });

  program
    .command('set-ready')
    .description(
      "make a pod's readiness probe pass or fail (its Ready condition and EndpointSlices follow)",
    )
    .argument('<pod>', 'pod name')
    .argument('<ready>', 'true | false')
    .option('--lab <name>', 'lab (default: the only one)')
    .option('--json', 'machine-readable output')
    .action(async (pod: string, value: string, o) => {
      if (value !== 'true' && value !== 'false')
        throw new UsageError(
          `ready: Unsupported value: ${JSON.stringify(value.slice(0, 20))}: supported values: "true", "false"`,
        );
      const name = await selectLab(o.lab);
      const lab = await (await providerOfLab(name)).attach(name);
      try {
        if (!lab.topology.pods.some((p) => p.name === pod))
          throw new UsageError(
            `pod: Not found: ${JSON.stringify(pod.slice(0, 63))} in lab ${name}`,
          );
        const results = await lab.update((t) => {
          t.pods.find((p) => p.name === pod)!.ready = value === 'true';
        });
        if (o.json) printJson({ pod, ready: value === 'true', syncs: results });
        else
          process.stdout.write(
            `pod ${pod}: ready=${value}${lab.controlPlane ? ' (Pod Ready condition and EndpointSlices updated)' : ''}\n`,
          );
      } finally {
        await lab.detach();
        lab.controlPlane?.close();
      }
    });
}
