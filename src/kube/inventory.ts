import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cachedBinDir, isExecutableFile, kubeCacheRoot, readBuildRecord } from './cache.js';
import { DEFAULT_KUBE_VERSION, KNOWN_KUBE_VERSIONS, KUBE_COMPONENTS } from './versions.js';

/** What `svclab doctor` says about Kubernetes releases: built here, and how to get others. */
export interface KubeInventory {
  cache: string;
  default: string;
  versions: {
    version: string;
    components: string[];
    missing: string[];
    buildMs?: number | undefined;
  }[];
  userBinDir?: string | undefined;
  howToGet: string;
}

export function kubeInventory(env: NodeJS.ProcessEnv = process.env): KubeInventory {
  const cache = kubeCacheRoot(env);
  const dirs = existsSync(cache)
    ? readdirSync(cache).filter((d) => /^v\d+\.\d+\.\d+$/.test(d))
    : [];
  const versions = [...new Set([...dirs, DEFAULT_KUBE_VERSION])].sort().map((version) => {
    const bin = cachedBinDir(version, env);
    const components = KUBE_COMPONENTS.filter((c) => isExecutableFile(join(bin, c)));
    const rec = readBuildRecord(version);
    return {
      version,
      components: [...components],
      missing: KUBE_COMPONENTS.filter((c) => !components.includes(c)),
      buildMs: Object.values(rec)[0]?.durationMs,
    };
  });
  return {
    cache,
    default: DEFAULT_KUBE_VERSION,
    versions,
    userBinDir: env.SVCLAB_KUBE_BIN_DIR || undefined,
    howToGet: `svclab kube build --kube-version <release> (from source through the Go module proxy; seen served: ${KNOWN_KUBE_VERSIONS.join(', ')}), or --kube-bin-dir <folder> with binaries of your own`,
  };
}
