import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getProvider } from '../cluster/providers.js';
import { readLabState } from '../cluster/state.js';
import { loadTopology } from '../model/index.js';
import type { ProxyMode } from '../proxy/types.js';
import type { ControlPlaneRecord } from '../controlplane/handle.js';
import { readBuildRecord } from '../kube/cache.js';
import { kubeOptionsFromEnv } from '../kube/binaries.js';
import { machineInfo } from './machine.js';
import { stats, type Stats } from './stats.js';

/**
 * `svclab bench up --control-plane`: three-node with etcd, kube-apiserver and
 * kube-controller-manager, up until every Pod is Ready in the API and the EndpointSlices match,
 * then down. Per phase medians, the RSS of each control-plane process once the lab is up, and the
 * build records of the binaries used (cold build duration).
 */
export interface ControlPlaneUpResult {
  topology: string;
  runs: number;
  upMs: Stats;
  downMs: Stats;
  phaseMs: Record<string, Stats>;
  rssMiB: Record<string, Stats>;
  version: string;
}

function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function benchControlPlaneUp(opts: {
  root: string;
  runs: number;
  proxy: ProxyMode | 'none';
  onProgress?: (line: string) => void;
}) {
  const topo = await loadTopology(join(opts.root, 'topologies', 'three-node.yaml'));
  const provider = await getProvider('netns');
  const up: number[] = [];
  const down: number[] = [];
  const phases: Record<string, number[]> = {};
  const rss: Record<string, number[]> = {};
  let version = '';
  for (let i = 0; i < opts.runs; i++) {
    const name = `bench-cp-${i}`;
    const t0 = performance.now();
    const lab = await provider.up(topo, {
      name,
      proxy: opts.proxy,
      progress: 'silent',
      ephemeral: true,
      controlPlane: true,
      kube: kubeOptionsFromEnv(),
    });
    const t1 = performance.now();
    const st = await readLabState(name);
    const cp = st.extra?.['controlPlane'] as ControlPlaneRecord;
    version = cp.version;
    for (const [phase, ms] of Object.entries(
      (st.extra?.['phaseMs'] ?? {}) as Record<string, number>,
    ))
      (phases[phase] ??= []).push(ms);
    for (const c of cp.components) {
      const r = rssMiB(c.pid);
      if (r !== undefined) (rss[c.component] ??= []).push(r);
    }
    const report = await lab.down();
    const t2 = performance.now();
    if (report.errors.length > 0)
      throw new Error(`teardown of ${name}: ${report.errors.join('; ')}`);
    up.push(t1 - t0);
    down.push(t2 - t1);
    opts.onProgress?.(
      `three-node + control plane: run ${i + 1}/${opts.runs}: up ${(t1 - t0).toFixed(0)} ms, down ${(t2 - t1).toFixed(0)} ms`,
    );
  }
  const result: ControlPlaneUpResult = {
    topology: 'three-node.yaml',
    runs: opts.runs,
    upMs: stats(up),
    downMs: stats(down),
    phaseMs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, stats(v)])),
    rssMiB: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, stats(v)])),
    version,
  };
  return {
    benchmark: 'up --control-plane',
    machine: machineInfo(),
    proxy: opts.proxy,
    result,
    build: readBuildRecord(version),
  };
}
