import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { LabError } from '../exec/index.js';
import { packageDir } from '../cluster/common/agents.js';
import {
  cachedBinDir,
  isExecutableFile,
  recordBuild,
  versionDir,
  withVersionLock,
  type BuildRecordEntry,
} from './cache.js';
import {
  COMPONENT_PACKAGES,
  DEFAULT_KUBE_VERSION,
  parseKubeVersion,
  type KubeComponent,
  type KubeVersion,
} from './versions.js';

/**
 * Builds Kubernetes components from the Go module proxy with the ordinary `go` client. The
 * pinned release builds from this repository's kubebuild/ module (go.mod and go.sum checked in,
 * no Kubernetes code copied); another release gets a module generated the same way in the cache.
 * Flags follow upstream's release build (hack/lib/golang.sh): CGO off, -trimpath, the version
 * stamped into k8s.io/component-base/version so `--version` and the API server's /version say
 * what was built.
 */
export interface BuildOptions {
  version?: string | undefined;
  components: readonly KubeComponent[];
  /** Progress lines (package counts, phases); default stderr. */
  onProgress?: ((line: string) => void) | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

export interface BuildReport {
  version: string;
  binDir: string;
  built: KubeComponent[];
  cached: KubeComponent[];
  durationMs: number;
  packagesCompiled: number;
}

const BUILD_TAGS = 'selinux,notest,grpcnotrace';

export function versionLdflags(v: KubeVersion): string {
  const flags = ['-s', '-w'];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    flags.push(
      `-X ${pkg}.gitVersion=${v.version}`,
      `-X ${pkg}.gitMajor=${v.major}`,
      `-X ${pkg}.gitMinor=${v.minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    );
  }
  return flags.join(' ');
}

export async function buildComponents(opts: BuildOptions): Promise<BuildReport> {
  const v = parseKubeVersion(opts.version ?? DEFAULT_KUBE_VERSION);
  const say = opts.onProgress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const env = { ...process.env, ...opts.env, CGO_ENABLED: '0' };
  const started = Date.now();
  return withVersionLock(
    v.version,
    async () => {
      const binDir = cachedBinDir(v.version);
      const missing = opts.components.filter((c) => !isExecutableFile(join(binDir, c)));
      const cached = opts.components.filter((c) => !missing.includes(c));
      if (missing.length === 0)
        return {
          version: v.version,
          binDir,
          built: [],
          cached,
          durationMs: 0,
          packagesCompiled: 0,
        };
      const moduleDir =
        v.version === DEFAULT_KUBE_VERSION
          ? join(packageDir(), 'kubebuild')
          : await generateModule(v, say, env);
      const out = join(versionDir(v.version), `.build-${process.pid}`);
      await rm(out, { recursive: true, force: true });
      await mkdir(out, { recursive: true });
      say(
        `svclab: building ${missing.join(', ')} ${v.version} from source (go build in ${moduleDir}); a cold build takes 10-20 minutes on 2 cores`,
      );
      let compiled = 0;
      let lastTold = Date.now();
      const child = execa(
        'go',
        [
          'build',
          '-v',
          '-trimpath',
          '-tags',
          BUILD_TAGS,
          '-ldflags',
          versionLdflags(v),
          '-o',
          `${out}/`,
          ...missing.map((c) => COMPONENT_PACKAGES[c]),
        ],
        { cwd: moduleDir, env, reject: false, all: true, buffer: true },
      );
      // `go build -v` prints each package as it is compiled: a count is the honest progress.
      child.all?.on('data', (chunk: Buffer) => {
        compiled += chunk
          .toString()
          .split('\n')
          .filter((l) => /^[\w.-]+(\/[\w.~-]+)+$/.test(l.trim())).length;
        if (Date.now() - lastTold > 15_000) {
          lastTold = Date.now();
          say(
            `svclab: build ${v.version}: ${compiled} packages compiled, ${Math.round((Date.now() - started) / 1000)} s`,
          );
        }
      });
      const r = await child;
      if (r.exitCode !== 0)
        throw new LabError(
          `go build of ${missing.join(', ')} ${v.version} failed (exit ${r.exitCode}):\n${String(
            r.all,
          )
            .split('\n')
            .filter((l) => !/^[\w.-]+(\/[\w.~-]+)+$/.test(l.trim()))
            .slice(-30)
            .join('\n')}`,
        );
      // etcd's main package is go.etcd.io/etcd/server/v3: go build names the binary `server`.
      if (missing.includes('etcd')) await rename(join(out, 'server'), join(out, 'etcd'));
      const goVersion = (await execa('go', ['version'], { env })).stdout.trim();
      await mkdir(binDir, { recursive: true });
      const durationMs = Date.now() - started;
      const entries: Partial<Record<KubeComponent, BuildRecordEntry>> = {};
      for (const c of missing) {
        await checkStamp(join(out, c), c, v);
        await rename(join(out, c), join(binDir, c));
        entries[c] = { source: 'build', at: new Date().toISOString(), durationMs, from: goVersion };
      }
      await rm(out, { recursive: true, force: true });
      await recordBuild(v.version, entries);
      say(
        `svclab: built ${missing.join(', ')} ${v.version} in ${Math.round(durationMs / 1000)} s (${compiled} packages) into ${binDir}`,
      );
      return {
        version: v.version,
        binDir,
        built: missing,
        cached,
        durationMs,
        packagesCompiled: compiled,
      };
    },
    { onWait: (pid) => say(`svclab: waiting for the build of ${v.version} running in pid ${pid}`) },
  );
}

/** What a component says its version is (`--version`; kubectl: `version --client`). */
export async function componentVersion(bin: string, c: KubeComponent): Promise<string> {
  const args = c === 'kubectl' ? ['version', '--client'] : ['--version'];
  const r = await execa(bin, args, { reject: false, timeout: 20_000 });
  return `${r.stdout}\n${r.stderr}`.trim();
}

/** A binary that does not say the release it was built as is not used (a stale or foreign file). */
async function checkStamp(bin: string, c: KubeComponent, v: KubeVersion): Promise<void> {
  const text = await componentVersion(bin, c);
  const want =
    c === 'etcd'
      ? /etcd Version: \d+\.\d+\.\d+/
      : new RegExp(`${v.version.replace(/\./g, '\\.')}\\b`);
  if (!want.test(text))
    throw new LabError(
      `${bin} does not report version ${c === 'etcd' ? 'etcd' : v.version}: ${text.slice(0, 300)}`,
    );
}

/**
 * The module for a release other than the pinned one, made as kubebuild/ was made: require
 * k8s.io/kubernetes at the release, replace each staging module by its v0.X.Y (the list comes
 * from the release's own go.mod: the requirements at v0.0.0), etcd's server at the version the
 * release pins, and `go get -tool` records every tool's packages and their sums.
 */
async function generateModule(
  v: KubeVersion,
  say: (line: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const dir = join(versionDir(v.version), 'module');
  if (existsSync(join(dir, 'go.sum'))) return dir;
  say(`svclab: preparing a Go module for ${v.version} in ${dir}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const go = (args: string[]) =>
    execa('go', args, { cwd: dir, env, reject: false, all: true }).then((r) => {
      if (r.exitCode !== 0)
        throw new LabError(`go ${args.join(' ')} failed in ${dir}:\n${String(r.all).slice(-3000)}`);
      return r.stdout;
    });
  const info = JSON.parse(
    await go(['mod', 'download', '-json', `k8s.io/kubernetes@${v.version}`]),
  ) as {
    GoMod: string;
  };
  const upstream = await readFile(info.GoMod, 'utf8');
  const staging = [...upstream.matchAll(/^\s*(k8s\.io\/[\w.-]+) v0\.0\.0\s*$/gm)].map((m) => m[1]!);
  const goLine = /^go (\S+)/m.exec(upstream)?.[1] ?? '1.24';
  const godebug = /^godebug (.+)$/m.exec(upstream)?.[1];
  const etcd = /go\.etcd\.io\/etcd\/server\/v3 (v\S+)/.exec(upstream)?.[1];
  if (!etcd)
    throw new LabError(`k8s.io/kubernetes@${v.version}'s go.mod pins no go.etcd.io/etcd/server/v3`);
  const lines = [
    `module svclab.dev/kubebuild-${v.version.replace(/\./g, '-')}`,
    '',
    `go ${goLine}`,
    ...(godebug ? ['', `godebug ${godebug}`] : []),
    '',
    ...staging.map((m) => `replace ${m} => ${m} ${v.staging}`),
    '',
  ];
  await writeFile(join(dir, 'go.mod'), lines.join('\n'));
  await go([
    'get',
    '-tool',
    ...(['kube-apiserver', 'kube-controller-manager', 'kube-proxy', 'kubectl'] as const).map(
      (c) => `${COMPONENT_PACKAGES[c]}@${v.version}`,
    ),
    `${COMPONENT_PACKAGES.etcd}@${etcd}`,
  ]);
  return dir;
}
