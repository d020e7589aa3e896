import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LabError } from '../exec/index.js';
import { isPidAlive } from '../cluster/state.js';
import type { KubeComponent } from './versions.js';

/**
 * Built binaries live outside the work tree, one folder per release, so a checkout never holds
 * a binary and two checkouts on one machine share the same builds:
 *
 *   $SVCLAB_KUBE_CACHE (default /var/cache/svclab/kube)
 *     v1.37.2/bin/{etcd,kube-apiserver,kube-controller-manager,kube-proxy,kubectl}
 *     v1.37.2/module/      the Go module for a release other than the pinned one
 *     v1.37.2/build.json   how each binary got there, and how long it took
 */
export function kubeCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.SVCLAB_KUBE_CACHE ?? '/var/cache/svclab/kube';
}

export function versionDir(version: string, env?: NodeJS.ProcessEnv): string {
  return join(kubeCacheRoot(env), version);
}

export function cachedBinDir(version: string, env?: NodeJS.ProcessEnv): string {
  return join(versionDir(version, env), 'bin');
}

export function isExecutableFile(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

export interface BuildRecordEntry {
  source: 'build' | 'fetch';
  at: string;
  durationMs: number;
  /** `go version` of the toolchain, or the URL fetched from. */
  from: string;
  sha256?: string | undefined;
}

export type BuildRecord = Partial<Record<KubeComponent, BuildRecordEntry>>;

export function readBuildRecord(version: string): BuildRecord {
  try {
    return JSON.parse(readFileSync(join(versionDir(version), 'build.json'), 'utf8')) as BuildRecord;
  } catch {
    return {};
  }
}

export async function recordBuild(
  version: string,
  entries: Partial<Record<KubeComponent, BuildRecordEntry>>,
): Promise<void> {
  const file = join(versionDir(version), 'build.json');
  const merged = { ...readBuildRecord(version), ...entries };
  await writeFile(`${file}.tmp`, JSON.stringify(merged, null, 2) + '\n');
  await rename(`${file}.tmp`, file);
}

/**
 * One build per release at a time on this machine (two test runs may ask at once): mkdir is
 * atomic; a lock whose holder died is taken over.
 */
export async function withVersionLock<T>(
  version: string,
  fn: () => Promise<T>,
  opts: { timeoutMs?: number; onWait?: (holder: number) => void } = {},
): Promise<T> {
  const dir = versionDir(version);
  await mkdir(dir, { recursive: true });
  const lock = join(dir, '.lock');
  const deadline = Date.now() + (opts.timeoutMs ?? 60 * 60_000);
  let told = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => '0'));
      if (holder && !isPidAlive(holder)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (!holder && existsSync(lock)) {
        // Created but the pid not written yet, or written by a process that died in between.
        const age = Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs;
        if (age > 10_000) await rm(lock, { recursive: true, force: true });
      }
      if (Date.now() > deadline)
        throw new LabError(`timed out waiting for the build lock ${lock} (held by pid ${holder})`);
      if (!told && holder) {
        opts.onWait?.(holder);
        told = true;
      }
      await delay(500);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
