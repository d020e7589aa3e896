import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  access,
  copyFile,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LabError, run } from '../exec/index.js';
import { renderInitScript } from './init-script.js';
import { extractVmlinux } from './kernel-image.js';
import {
  bootModules,
  labModules,
  moduleClosure,
  parseModulesBuiltin,
  parseModulesDep,
  stripModuleSignature,
} from './modules.js';

/** The Debian meta package that always depends on the current distro kernel. */
export const defaultKernelPackage = 'linux-image-amd64';

export interface EnsureKernelOptions {
  /**
   * A kernel package (`linux-image-...`), or a path: a directory laid out like an extracted
   * linux-image package (boot/vmlinuz-<release> and lib/modules/<release>), or a vmlinuz
   * file whose modules are in lib/modules/<release> beside it. Default: linux-image-amd64.
   */
  kernel?: string | undefined;
  /** Default $SVCLAB_VM_CACHE or /var/cache/svclab/vm. */
  cacheDir?: string | undefined;
  /** Progress lines (downloads and builds take seconds; a cache hit says nothing). */
  log?: ((line: string) => void) | undefined;
}

export interface KernelArtifacts {
  kernelPath: string;
  initrdPath: string;
  /** Kernel release, e.g. 6.1.0-56-amd64. */
  release: string;
  /** Where it came from: the package name or the path given. */
  source: string;
  /** Modules the lab asked for that this kernel does not have. */
  missingModules: string[];
  /** True when nothing had to be downloaded or built. */
  cached: boolean;
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SVCLAB_VM_CACHE || '/var/cache/svclab/vm';
}

/** Bumped when the build changes in a way the init script hash does not show. */
const initrdFormat = 2;

/** Identifies an initrd build: same init, same module list, same busybox -> same file. */
export function initrdKey(busyboxSize: number): string {
  const h = createHash('sha256');
  h.update(String(initrdFormat));
  h.update(renderInitScript({ bootModules, labModules }));
  h.update(String(busyboxSize));
  return h.digest('hex').slice(0, 16);
}

/**
 * Fetches (or finds) a kernel with the modules a lab needs and builds its initrd: busybox,
 * the init, and only the module files the lab's modules need (the whole tree is ~400 MB).
 * Everything lands in the cache dir and is reused; a second call returns at once.
 */
export async function ensureKernel(opts: EnsureKernelOptions = {}): Promise<KernelArtifacts> {
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  const log = opts.log ?? (() => {});
  const kernel = opts.kernel ?? defaultKernelPackage;
  try {
    await mkdir(cacheDir, { recursive: true });
    if (kernel.startsWith('/') || kernel.startsWith('.'))
      return await fromPath(resolve(kernel), cacheDir, log);
    if (!/^linux-image-[A-Za-z0-9.+~-]+$/.test(kernel)) {
      throw new Error(`"${kernel}" is neither a linux-image-* package nor a path`);
    }
    return await fromPackage(kernel, cacheDir, log);
  } catch (err) {
    throw new LabError(`failed to prepare VM kernel ${kernel}`, { cause: err });
  }
}

async function fromPackage(
  pkg: string,
  cacheDir: string,
  log: (l: string) => void,
): Promise<KernelArtifacts> {
  const concrete = await resolvePackage(pkg, cacheDir);
  const dir = join(cacheDir, concrete);
  const busybox = await ensureBusybox(cacheDir, log);
  const key = initrdKey(busybox.size);
  const kernelPath = join(dir, 'kernel');
  const initrdPath = join(dir, `initrd-${key}.cpio`);
  const metaPath = join(dir, `initrd-${key}.json`);
  if ((await exists(kernelPath)) && (await exists(initrdPath)) && (await exists(metaPath))) {
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as {
      release: string;
      missingModules: string[];
    };
    return {
      kernelPath,
      initrdPath,
      release: meta.release,
      source: concrete,
      missingModules: meta.missingModules,
      cached: true,
    };
  }
  await mkdir(dir, { recursive: true });
  const staging = await makeStaging(cacheDir);
  try {
    const deb = await downloadPackage(concrete, dir, log);
    log(`extracting ${concrete}`);
    const root = join(staging, 'root');
    await run('dpkg-deb', ['-x', deb, root], { timeoutMs: 300_000 });
    const release = await findRelease(join(root, 'lib', 'modules'));
    await run('depmod', ['-b', root, release], { timeoutMs: 120_000 });
    const built = await buildInitrd({
      modulesDir: join(root, 'lib', 'modules', release),
      release,
      busyboxPath: busybox.path,
      staging,
      log,
    });
    await installKernelImage(join(root, 'boot', `vmlinuz-${release}`), kernelPath);
    await removeOldInitrds(dir);
    await rename(built.path, initrdPath);
    // Written last: its presence is what marks the build complete.
    await writeFile(metaPath, JSON.stringify({ release, missingModules: built.missing }));
    return {
      kernelPath,
      initrdPath,
      release,
      source: concrete,
      missingModules: built.missing,
      cached: false,
    };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function fromPath(
  path: string,
  cacheDir: string,
  log: (l: string) => void,
): Promise<KernelArtifacts> {
  const st = await stat(path);
  let kernelPath: string;
  let modulesRoot: string;
  if (st.isDirectory()) {
    const boot = join(path, 'boot');
    const inBoot = (await exists(boot))
      ? (await readdir(boot)).filter((f) => f.startsWith('vmlinuz'))
      : [];
    const here = (await readdir(path)).filter((f) => f.startsWith('vmlinuz'));
    const found = inBoot[0] ? join(boot, inBoot[0]) : here[0] ? join(path, here[0]) : undefined;
    if (!found) throw new Error(`no vmlinuz* in ${path} or ${boot}`);
    kernelPath = found;
    modulesRoot = path;
  } else {
    kernelPath = path;
    modulesRoot = join(path, '..');
  }
  const release = await findRelease(join(modulesRoot, 'lib', 'modules'));
  const modulesDir = join(modulesRoot, 'lib', 'modules', release);
  if (!(await exists(join(modulesDir, 'modules.dep')))) {
    await run('depmod', ['-b', modulesRoot, release], { timeoutMs: 120_000 });
  }
  const busybox = await ensureBusybox(cacheDir, log);
  const pathKey = createHash('sha256').update(kernelPath).digest('hex').slice(0, 12);
  const dir = join(cacheDir, `local-${pathKey}`);
  const initrdPath = join(dir, `initrd-${initrdKey(busybox.size)}-${Math.trunc(st.mtimeMs)}.cpio`);
  const metaPath = initrdPath.replace(/\.cpio$/, '.json');
  const vmlinux = join(dir, 'kernel');
  if ((await exists(initrdPath)) && (await exists(metaPath))) {
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as {
      missingModules: string[];
      vmlinux: boolean;
    };
    const bootPath = meta.vmlinux ? vmlinux : kernelPath;
    return {
      kernelPath: bootPath,
      initrdPath,
      release,
      source: path,
      missingModules: meta.missingModules,
      cached: true,
    };
  }
  await mkdir(dir, { recursive: true });
  const staging = await makeStaging(cacheDir);
  try {
    const built = await buildInitrd({
      modulesDir,
      release,
      busyboxPath: busybox.path,
      staging,
      log,
    });
    await removeOldInitrds(dir);
    const tmp = join(staging, 'vmlinux');
    const unpacked = await extractVmlinux(kernelPath, tmp);
    if (unpacked) await rename(tmp, vmlinux);
    await rename(built.path, initrdPath);
    await writeFile(
      metaPath,
      JSON.stringify({ release, missingModules: built.missing, vmlinux: unpacked }),
    );
    const bootPath = unpacked ? vmlinux : kernelPath;
    return {
      kernelPath: bootPath,
      initrdPath,
      release,
      source: path,
      missingModules: built.missing,
      cached: false,
    };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * linux-image-amd64 is a meta package: the kernel is its `Depends: linux-image-<release>`.
 * The answer is remembered in the cache so that later runs need no apt at all.
 */
async function resolvePackage(pkg: string, cacheDir: string): Promise<string> {
  const memo = join(cacheDir, `${pkg}.resolved`);
  if (await exists(memo)) {
    const name = (await readFile(memo, 'utf8')).trim();
    if (name && (await exists(join(cacheDir, name, 'kernel')))) return name;
  }
  const depends = async () => {
    const r = await run('apt-cache', ['depends', pkg], { allowFailure: true, timeoutMs: 60_000 });
    return { ok: r.ok, dep: parseMetaDepends(r.stdout) };
  };
  let res = await depends();
  if (!res.ok) {
    // A fresh machine has empty package lists; apt-cache knows nothing until an update.
    await run('apt-get', ['update', '-qq'], { timeoutMs: 600_000 });
    res = await depends();
  }
  if (!res.ok) throw new Error(`apt-cache does not know ${pkg}`);
  const concrete = res.dep ?? pkg;
  await writeFile(memo, concrete + '\n');
  return concrete;
}

/** From `apt-cache depends linux-image-amd64`, the concrete kernel package, if it is a meta package. */
export function parseMetaDepends(text: string): string | undefined {
  const m = /^\s*Depends:\s*(linux-image-\S+)/m.exec(text);
  return m?.[1];
}

async function downloadPackage(
  pkg: string,
  dir: string,
  log: (l: string) => void,
): Promise<string> {
  const existing = (await readdir(dir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (existing) return join(dir, existing);
  log(`downloading ${pkg}`);
  // apt-get download writes into the current directory; the exec module has no cwd option.
  const script = 'cd "$1" && exec apt-get download -q -o APT::Sandbox::User=root "$2"';
  let r = await run('sh', ['-c', script, 'sh', dir, pkg], {
    allowFailure: true,
    timeoutMs: 600_000,
  });
  if (!r.ok) {
    await run('apt-get', ['update', '-qq'], { timeoutMs: 600_000 });
    r = await run('sh', ['-c', script, 'sh', dir, pkg], { timeoutMs: 600_000 });
  }
  const deb = (await readdir(dir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${dir}`);
  return join(dir, deb);
}

/**
 * The initramfs has no libc, so busybox must be statically linked: the host's /bin/busybox
 * when it is (busybox-static), otherwise the one from the busybox-static package, cached.
 */
async function ensureBusybox(
  cacheDir: string,
  log: (l: string) => void,
): Promise<{ path: string; size: number }> {
  for (const candidate of [
    '/bin/busybox',
    '/usr/bin/busybox',
    join(cacheDir, 'busybox-static', 'bin', 'busybox'),
  ]) {
    if ((await exists(candidate)) && (await isStaticElf(candidate))) {
      return { path: candidate, size: (await stat(candidate)).size };
    }
  }
  const dir = join(cacheDir, 'busybox-static');
  await mkdir(dir, { recursive: true });
  const deb = await downloadPackage('busybox-static', dir, log);
  await run('dpkg-deb', ['-x', deb, dir]);
  const path = join(dir, 'bin', 'busybox');
  return { path, size: (await stat(path)).size };
}

/** True for an ELF file with no PT_INTERP program header (no dynamic loader needed). */
export async function isStaticElf(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(64);
    await fh.read(head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return false; // ELF64 only
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    await fh.close();
  }
}

async function findRelease(modulesBase: string): Promise<string> {
  const releases = (await readdir(modulesBase)).filter((d) => !d.startsWith('.'));
  if (releases.length !== 1)
    throw new Error(
      `expected one kernel release in ${modulesBase}, found ${releases.join(', ') || 'none'}`,
    );
  return releases[0]!;
}

interface BuildInitrdOptions {
  modulesDir: string;
  release: string;
  busyboxPath: string;
  staging: string;
  log: (line: string) => void;
}

/** Builds the initrd in the staging dir; returns its path and the lab modules this kernel lacks. */
async function buildInitrd(o: BuildInitrdOptions): Promise<{ path: string; missing: string[] }> {
  o.log(`building initrd for ${o.release}`);
  const ird = join(o.staging, 'initrd');
  const modOut = join(ird, 'lib', 'modules', o.release);
  for (const d of ['bin', 'proc', 'sys', 'dev', 'host'])
    await mkdir(join(ird, d), { recursive: true });
  await mkdir(modOut, { recursive: true });
  await copyFile(o.busyboxPath, join(ird, 'bin', 'busybox'));
  await writeFile(join(ird, 'init'), renderInitScript({ bootModules, labModules }), {
    mode: 0o755,
  });
  const dep = parseModulesDep(await readFile(join(o.modulesDir, 'modules.dep'), 'utf8'));
  const builtinText = await readFile(join(o.modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  const builtin = parseModulesBuiltin(builtinText);
  const boot = moduleClosure(bootModules, dep, builtin);
  if (boot.missing.length > 0)
    throw new Error(
      `kernel ${o.release} lacks modules the VM needs to boot: ${boot.missing.join(', ')}`,
    );
  const lab = moduleClosure(labModules, dep, builtin);
  for (const rel of new Set([...boot.files, ...lab.files])) {
    await mkdir(join(modOut, rel, '..'), { recursive: true });
    await writeFile(
      join(modOut, rel),
      stripModuleSignature(await readFile(join(o.modulesDir, rel))),
    );
  }
  for (const f of ['modules.builtin', 'modules.order']) {
    if (await exists(join(o.modulesDir, f))) await copyFile(join(o.modulesDir, f), join(modOut, f));
  }
  // A modules.dep for just these files, so busybox modprobe has little to parse at boot.
  await run('depmod', ['-b', ird, o.release], { timeoutMs: 120_000 });
  const list = (await walk(ird)).join('\n') + '\n';
  const out = join(o.staging, 'initrd.cpio');
  // Uncompressed: the kernel would otherwise inflate it with an emulated CPU on every boot.
  await run('cpio', ['--quiet', '-o', '-H', 'newc', '-R', '0:0', '-D', ird, '-F', out], {
    input: list,
    timeoutMs: 120_000,
  });
  return { path: out, missing: lab.missing };
}

/** Relative paths of everything under `dir`, parents first (cpio order). */
async function walk(dir: string, prefix = '.'): Promise<string[]> {
  const out: string[] = [prefix];
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...(await walk(dir, rel)));
    else out.push(rel);
  }
  return out;
}

/**
 * Installs the image QEMU boots: the uncompressed vmlinux when it can be had (PVH boot, see
 * extractVmlinux), else the bzImage itself.
 */
async function installKernelImage(bzImage: string, dest: string): Promise<void> {
  const tmp = `${dest}.tmp-${process.pid}`;
  if (await extractVmlinux(bzImage, tmp)) await rename(tmp, dest);
  else await rename(bzImage, dest);
}

/** Initrds built by an older init or module list are never used again. */
async function removeOldInitrds(dir: string): Promise<void> {
  for (const f of await readdir(dir)) {
    if (f.startsWith('initrd-')) await rm(join(dir, f), { force: true });
  }
}

async function makeStaging(cacheDir: string): Promise<string> {
  // Builds interrupted by a crash leave their staging dir; its owner pid is in the name.
  for (const f of await readdir(cacheDir)) {
    const owner = /^\.staging-(\d+)-/.exec(f)?.[1];
    if (owner && !processAlive(Number(owner)))
      await rm(join(cacheDir, f), { recursive: true, force: true });
  }
  const dir = join(cacheDir, `.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}
