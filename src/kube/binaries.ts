import { join, resolve } from 'node:path';
import { UsageError } from '../cli/errors.js';
import { cachedBinDir, isExecutableFile } from './cache.js';
import { DEFAULT_KUBE_VERSION, parseKubeVersion, type KubeComponent } from './versions.js';

/**
 * Where a lab's Kubernetes programs come from, in this order: a folder the user names
 * (`--kube-bin-dir` / SVCLAB_KUBE_BIN_DIR: their own builds, used as they are), else the cache
 * for the chosen release (`--kube-version` / SVCLAB_KUBE_VERSION, default v1.37.2), built from
 * source when a component is missing.
 */
export interface KubeBinariesOptions {
  version?: string | undefined;
  binDir?: string | undefined;
  /** Build what is missing from the cache (default true); false fails with how to get it. */
  build?: boolean | undefined;
  onProgress?: ((line: string) => void) | undefined;
}

export interface KubeBinaries {
  version: string;
  /** `user` for --kube-bin-dir, else `cache`. */
  source: 'user' | 'cache';
  dir: string;
  path(c: KubeComponent): string;
}

export function kubeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): KubeBinariesOptions {
  return {
    version: env.SVCLAB_KUBE_VERSION || undefined,
    binDir: env.SVCLAB_KUBE_BIN_DIR || undefined,
  };
}

/** The release `resolveKubeBinaries` runs for these options (a --kube-bin-dir build is labelled with it too). */
export function kubeVersionOf(opts: Pick<KubeBinariesOptions, 'version'>): string {
  return parseKubeVersion(opts.version ?? DEFAULT_KUBE_VERSION).version;
}

export async function resolveKubeBinaries(
  components: readonly KubeComponent[],
  opts: KubeBinariesOptions = {},
): Promise<KubeBinaries> {
  const version = kubeVersionOf(opts);
  if (opts.binDir) {
    const dir = resolve(opts.binDir);
    const missing = components.filter((c) => !isExecutableFile(join(dir, c)));
    if (missing.length > 0)
      throw new UsageError(
        `--kube-bin-dir: Invalid value: ${JSON.stringify(dir)}: no executable ${missing.join(', ')} in it`,
      );
    return { version, source: 'user', dir, path: (c) => join(dir, c) };
  }
  const dir = cachedBinDir(version);
  const missing = components.filter((c) => !isExecutableFile(join(dir, c)));
  if (missing.length > 0) {
    if (opts.build === false)
      throw new UsageError(
        `Kubernetes ${version}: ${missing.join(', ')} not built; run \`svclab kube build --kube-version ${version}\``,
      );
    // Loaded only when a build is needed (it brings execa): short commands stay light.
    const { buildComponents } = await import('./build.js');
    await buildComponents({ version, components: missing, onProgress: opts.onProgress });
  }
  return { version, source: 'cache', dir, path: (c) => join(dir, c) };
}
