import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getProvider } from '../cluster/providers.js';
import { parseTopology } from '../model/index.js';
import type { Topology } from '../model/types.js';
import type { ProxyMode } from '../proxy/types.js';
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
}

/**
 * Times `up` and `down` of the shipped topologies and a generated larger one. kind needs tens of
 * seconds for a cluster; the netns lab's goal is under 1 s up and 0.5 s down for three-node.
 */
export async function benchUp(opts: {
  root: string;
  runs: number;
  proxy: ProxyMode | 'none';
  onProgress?: (line: string) => void;
}) {
  const cases: [string, Topology][] = [];
  for (const f of ['two-node.yaml', 'three-node.yaml']) {
    const file = join(opts.root, 'topologies', f);
    cases.push([f, parseTopology(await readFile(file, 'utf8'), { file })]);
  }
  cases.push([
    'generated 5 nodes x 20 pods',
    parseTopology(generateTopologyYaml({ name: 'bench-5x20', nodes: 5, podsPerNode: 20 }), {
      file: 'generated',
    }),
  ]);

  const provider = getProvider('netns');
  const results: UpBenchResult[] = [];
  for (const [label, topo] of cases) {
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
    });
  }
  return { benchmark: 'up', proxy: opts.proxy, runs: opts.runs, machine: machineInfo(), results };
}
