import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getProvider } from '../cluster/providers.js';
import { parseTopology } from '../model/index.js';
import type { Topology } from '../model/types.js';
import type { ProxyMode } from '../proxy/types.js';
import { timeSvclab } from './cli.js';
import { generateTopologyYaml } from './generate.js';
import { machineInfo } from './machine.js';
import { stats, type Stats } from './stats.js';

export interface UpBenchResult {
  topology: string;
  nodes: number;
  pods: number;
  services: number;
  namespaces: number;
  upMs: Stats;
  downMs: Stats;
  /** `svclab up` / `svclab down` as whole processes, start-up included: what a user times. */
  wholeUpMs: Stats;
  wholeDownMs: Stats;
}

/**
 * Times `up` and `down` of the shipped topologies and a generated larger one, in this process and
 * as whole `svclab up` / `svclab down` commands (the difference is the CLI's start-up). kind needs
 * tens of seconds for a cluster; the netns lab's goal is under 1 s up and 0.5 s down for
 * three-node, as whole commands.
 */
export async function benchUp(opts: {
  root: string;
  runs: number;
  proxy: ProxyMode | 'none';
  onProgress?: (line: string) => void;
}) {
  const cases: [string, Topology, string][] = [];
  for (const f of ['two-node.yaml', 'three-node.yaml']) {
    const file = join(opts.root, 'topologies', f);
    cases.push([f, parseTopology(await readFile(file, 'utf8'), { file }), file]);
  }
  // The whole-command runs need the generated topology as a file.
  const tmp = await mkdtemp(join(tmpdir(), 'svclab-bench-up-'));
  const generated = join(tmp, 'bench-5x20.yaml');
  const yaml = generateTopologyYaml({ name: 'bench-5x20', nodes: 5, podsPerNode: 20 });
  await writeFile(generated, yaml);
  cases.push([
    'generated 5 nodes x 20 pods',
    parseTopology(yaml, { file: 'generated' }),
    generated,
  ]);

  const provider = await getProvider('netns');
  const results: UpBenchResult[] = [];
  try {
    for (const [label, topo, file] of cases) {
      const up: number[] = [];
      const down: number[] = [];
      for (let i = 0; i < opts.runs; i++) {
        const name = `bench-up-${i}`;
        const t0 = performance.now();
        const lab = await provider.up(topo, {
          name,
          proxy: opts.proxy,
          progress: 'silent',
          ephemeral: true,
        });
        const t1 = performance.now();
        const report = await lab.down();
        const t2 = performance.now();
        if (report.errors.length > 0)
          throw new Error(`teardown of ${name} failed: ${report.errors.join('; ')}`);
        up.push(t1 - t0);
        down.push(t2 - t1);
        opts.onProgress?.(
          `${label}: run ${i + 1}/${opts.runs}: up ${(t1 - t0).toFixed(0)} ms, down ${(t2 - t1).toFixed(0)} ms`,
        );
      }
      const wholeUp: number[] = [];
      const wholeDown: number[] = [];
      for (let i = 0; i < opts.runs; i++) {
        const name = `bench-up-${i}`;
        wholeUp.push(
          await timeSvclab(opts.root, [
            'up',
            file,
            '--name',
            name,
            '--proxy',
            opts.proxy,
            '--json',
          ]),
        );
        wholeDown.push(await timeSvclab(opts.root, ['down', name]));
        opts.onProgress?.(
          `${label}: whole command ${i + 1}/${opts.runs}: svclab up ${wholeUp.at(-1)!.toFixed(0)} ms, svclab down ${wholeDown.at(-1)!.toFixed(0)} ms`,
        );
      }
      const namespaces =
        1 +
        topo.nodes.length +
        topo.pods.filter((p) => !p.hostNetwork).length +
        topo.externalHosts.length;
      results.push({
        topology: label,
        nodes: topo.nodes.length,
        pods: topo.pods.length,
        services: topo.services.length,
        namespaces,
        upMs: stats(up),
        downMs: stats(down),
        wholeUpMs: stats(wholeUp),
        wholeDownMs: stats(wholeDown),
      });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { benchmark: 'up', proxy: opts.proxy, runs: opts.runs, machine: machineInfo(), results };
}
