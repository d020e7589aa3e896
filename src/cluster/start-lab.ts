import { suiteConfig, type LabChoice } from '../harness/config.js';
import { topologyOfSource, type TopologySource } from '../model/source.js';
import type { Topology } from '../model/types.js';
import type { Lab } from './lab.js';
import type { UpOptions } from './provider.js';
import { getProvider } from './providers.js';
import { kubeOptionsFromEnv } from '../kube/binaries.js';

export interface StartLabOptions extends LabChoice {
  /** Lab name; default the topology's name. */
  name?: string;
  /** Edits the topology before the lab is built. */
  mutate?: (t: Topology) => void;
  progress?: UpOptions['progress'];
  keepOnFailure?: boolean;
  /** A test's lab: swept once the process that made it is gone. Default true. */
  ephemeral?: boolean;
  /** Where the proxy choice not given here comes from (SVCLAB_PROXY...); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Folder a relative topology path is resolved from; default the working directory. */
  cwd?: string;
}

/**
 * Builds a lab from a topology and returns its handle (dispose it, or call `down()`): the library
 * form of `svclab up`. The provider and proxy come from the options, else from the environment
 * (SVCLAB_PROVIDER, SVCLAB_PROXY, SVCLAB_SYNC, SVCLAB_IPTABLES_BACKEND, SVCLAB_IPVS_SCHEDULER).
 */
export async function startLab(source: TopologySource, opts: StartLabOptions = {}): Promise<Lab> {
  const config = suiteConfig(opts.env ?? process.env, opts);
  const topology = await topologyOfSource(source, { cwd: opts.cwd });
  opts.mutate?.(topology);
  return (await getProvider(config.provider)).up(topology, {
    name: opts.name,
    proxy: config.kubeProxy ? 'none' : config.proxy,
    proxyOptions: config.proxyOptions,
    controlPlane: config.controlPlane,
    kubeProxy: config.kubeProxy,
    kube: kubeOptionsFromEnv(opts.env ?? process.env),
    progress: opts.progress ?? 'silent',
    keepOnFailure: opts.keepOnFailure,
    ephemeral: opts.ephemeral ?? true,
    topologyFile: typeof source === 'string' ? source : undefined,
  });
}
