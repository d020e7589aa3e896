import { spawn } from 'node:child_process';
import { join, relative, resolve, sep } from 'node:path';
import { kubeInventory } from '../kube/inventory.js';
import { loadTopology } from '../model/load.js';
import { machineInfo } from './machine.js';
import { stats, type Stats } from './stats.js';

/**
 * Whole commands timed the way a user times them: a fresh `node bin/svclab.js ...` process from
 * spawn to exit, start-up included, against a bare `node -e 0` on the same machine. This is where
 * the CLI's start-up goals live (issue 17), never in a test.
 */

/** Short commands must finish within this many times `node -e 0`. */
export const SHORT_COMMAND_MAX_RATIO = 3;
/** Whole-command `up` and `down` of topologies/three-node.yaml, wall. */
export const UP_GOAL_MS = 1000;
export const DOWN_GOAL_MS = 500;

export interface CommandTiming {
  /** As a user would type it, without the `svclab` in front. */
  command: string;
  wallMs: Stats;
  /** Median over the median of `node -e 0`. */
  ratio: number;
  goal: string;
  met: boolean;
}

export interface CliBenchReport {
  benchmark: 'cli';
  runs: number;
  proxy: string;
  topology: string;
  baseline: { command: string; wallMs: Stats };
  commands: CommandTiming[];
  /** Why some commands were not timed (the lab ones need root). */
  notes: string[];
  met: boolean;
  machine: ReturnType<typeof machineInfo>;
}

/** Wall time of one process, spawn to exit; throws with its output when it fails. */
export async function timeProcess(
  argv: readonly string[],
  opts: { cwd?: string } = {},
): Promise<number> {
  const t0 = performance.now();
  const { code, output } = await new Promise<{ code: number | null; output: string }>(
    (resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: opts.cwd,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let output = '';
      child.stderr.on('data', (b: Buffer) => (output += b.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, output }));
    },
  );
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}:\n${output.trim()}`);
  return ms;
}

/** `node bin/svclab.js ...argv` of the package at `root`, timed. */
export function timeSvclab(root: string, argv: readonly string[]): Promise<number> {
  return timeProcess([process.execPath, join(root, 'bin', 'svclab.js'), ...argv], { cwd: root });
}

export async function benchCli(opts: {
  root: string;
  runs: number;
  proxy: string;
  /** Topology for validate, up and down; default topologies/three-node.yaml. */
  topologyFile?: string;
  onProgress?: (line: string) => void;
}): Promise<CliBenchReport> {
  const path = resolve(opts.root, opts.topologyFile ?? join('topologies', 'three-node.yaml'));
  const topology = await loadTopology(path);
  // Commands run in the package folder: name the file the way a user there would.
  const file = path.startsWith(opts.root + sep) ? relative(opts.root, path) : path;
  const log = opts.onProgress ?? (() => undefined);
  const notes: string[] = [];
  const repeat = async (label: string, fn: () => Promise<number>) => {
    // One untimed run first: the first start after a build reads its files from disk.
    await fn();
    const samples: number[] = [];
    for (let i = 0; i < opts.runs; i++) samples.push(await fn());
    log(`${label}: median ${stats(samples).median.toFixed(0)} ms`);
    return samples;
  };

  // Before and after the commands, so a change in machine load during the run shows in both.
  const baseline = await repeat('node -e 0', () => timeProcess([process.execPath, '-e', '0']));
  const short: [string, number[]][] = [];
  const whole: { up: number[]; down: number[] } = { up: [], down: [] };
  const shortCommand = async (argv: string[]) =>
    short.push([argv.join(' '), await repeat(argv.join(' '), () => timeSvclab(opts.root, argv))]);

  /**
   * `kubeconfig` needs a lab with a control plane: one is brought up (untimed, it takes seconds
   * and is not a short command) when the default release is built; building it here would take
   * minutes, so without it the command is listed as not timed.
   */
  const timeKubeconfig = async () => {
    const inventory = kubeInventory();
    const release = inventory.versions.find((v) => v.version === inventory.default);
    const needed = ['etcd', 'kube-apiserver', 'kube-controller-manager'];
    const missing = needed.filter((c) => !release?.components.includes(c));
    if (missing.length > 0) {
      notes.push(
        `kubeconfig was not timed: ${missing.join(', ')} of ${inventory.default} not built (svclab kube build)`,
      );
      return;
    }
    const lab = `bench-cli-cp-${process.pid.toString(36)}`.slice(0, 20);
    await timeSvclab(opts.root, [
      'up',
      file,
      '--name',
      lab,
      '--proxy',
      opts.proxy,
      '--control-plane',
      '--json',
    ]);
    try {
      await shortCommand(['kubeconfig', lab]);
    } finally {
      await timeSvclab(opts.root, ['down', lab]);
    }
  };

  await shortCommand(['validate', file]);
  await shortCommand(['status']);
  if (process.getuid?.() !== 0) {
    notes.push('not root: status <lab>, probe, dump, exec, kubeconfig, up and down were not timed');
  } else {
    const lab = `bench-cli-${process.pid.toString(36)}`.slice(0, 20);
    const node = topology.nodes[0]!.name;
    const pod = topology.pods.find((p) => !p.hostNetwork)?.name;
    const service = topology.services[0]?.name;
    for (let i = 0; i < opts.runs; i++) {
      whole.up.push(
        await timeSvclab(opts.root, ['up', file, '--name', lab, '--proxy', opts.proxy, '--json']),
      );
      try {
        if (i === 0) {
          await shortCommand(['status', lab]);
          if (pod && service)
            await shortCommand(['probe', pod, service, '--count', '1', '--lab', lab]);
          else notes.push('the topology has no pod and Service to probe');
          await shortCommand(['dump', node, '--lab', lab]);
          await shortCommand(['exec', '--lab', lab, node, '--', 'true']);
        }
      } finally {
        whole.down.push(await timeSvclab(opts.root, ['down', lab]));
      }
      log(
        `up/down ${i + 1}/${opts.runs}: up ${whole.up.at(-1)!.toFixed(0)} ms, down ${whole.down.at(-1)!.toFixed(0)} ms`,
      );
    }
  }
  if (process.getuid?.() === 0) await timeKubeconfig();
  baseline.push(
    ...(await repeat('node -e 0 (again)', () => timeProcess([process.execPath, '-e', '0']))),
  );

  const base = stats(baseline);
  const timing = (command: string, samples: number[], goal: string, ok: (s: Stats) => boolean) => {
    const s = stats(samples);
    return { command, wallMs: s, ratio: s.median / base.median, goal, met: ok(s) };
  };
  const commands: CommandTiming[] = [
    ...short.map(([command, samples]) =>
      timing(
        command,
        samples,
        `under ${SHORT_COMMAND_MAX_RATIO}x node -e 0`,
        (s) => s.median < SHORT_COMMAND_MAX_RATIO * base.median,
      ),
    ),
  ];
  if (whole.up.length > 0) {
    commands.push(
      timing(`up ${file}`, whole.up, `under ${UP_GOAL_MS} ms`, (s) => s.median < UP_GOAL_MS),
      timing(`down`, whole.down, `under ${DOWN_GOAL_MS} ms`, (s) => s.median < DOWN_GOAL_MS),
    );
  }
  return {
    benchmark: 'cli',
    runs: opts.runs,
    proxy: opts.proxy,
    topology: path,
    baseline: { command: 'node -e 0', wallMs: base },
    commands,
    notes,
    met: commands.every((c) => c.met),
    machine: machineInfo(),
  };
}
