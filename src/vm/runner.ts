import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { LabError } from '../exec/index.js';
import { controlLines, renderCommandScript, renderRunSpec } from './init-script.js';
import { ensureKernel } from './kernel.js';
import { buildQemuArgs, type VmAccel } from './qemu-args.js';
import { findQemu } from './qemu-binary.js';

export type OutputStream = 'stdout' | 'stderr';

export interface RunInVmOptions {
  /** argv of the command; argv[0] is looked up on the command's PATH inside the VM. */
  command: readonly string[];
  /** Working directory of the command (an absolute host path). */
  cwd: string;
  /**
   * Directory shared writable with the VM at the same path, so results come back.
   * Default: cwd. Must contain cwd; cannot be `/`.
   */
  projectDir?: string | undefined;
  /** The command's environment. Default process.env. SVCLAB_IN_VM=1 is always added. */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Default 2048. */
  memoryMiB?: number | undefined;
  /** Default 2. */
  cpus?: number | undefined;
  /** Kernel package or path (see ensureKernel). */
  kernel?: string | undefined;
  /** Default $SVCLAB_VM_ACCEL or tcg: nested KVM was seen to stall at kernel decompression. */
  accel?: VmAccel | undefined;
  cacheDir?: string | undefined;
  /** Kill the VM after this long (boot included); the run resolves with exit code 124. */
  timeoutMs?: number | undefined;
  /** Receives the command's output as it arrives. Default: the caller's stdout / stderr. */
  onOutput?: ((stream: OutputStream, chunk: Buffer) => void) | undefined;
  /** Receives the VM's serial console (kernel and init messages). Default: kept for errors only. */
  onConsole?: ((chunk: Buffer) => void) | undefined;
  /** Verbose kernel console, streamed to stderr unless onConsole is given. Default $SVCLAB_VM_DEBUG. */
  debug?: boolean | undefined;
  /** Aborting kills the VM; the run resolves with exit code 130. */
  signal?: AbortSignal | undefined;
  /** Progress of kernel download / initrd build. */
  log?: ((line: string) => void) | undefined;
}

export interface VmRunResult {
  /** The command's exit code; 124 on timeout, 128+n when interrupted by signal n. */
  exitCode: number;
  /** QEMU start to the command's start. */
  bootMs: number;
  /** The command itself. */
  commandMs: number;
  /** The command's end to QEMU gone. */
  teardownMs: number;
  totalMs: number;
  timedOut: boolean;
  /** Set when SIGINT / SIGTERM (or the abort signal) ended the run. */
  interruptedBy?: NodeJS.Signals | undefined;
  /** Kernel release the VM ran. */
  kernelRelease: string;
  /** Guest uptime in seconds when the init reached each phase (kernel, modules, mounts). */
  guestPhases: Record<string, number>;
}

/** Parses ` kernel=1.92 modules=3.10 mounts=3.52` from the start line. */
export function parseGuestPhases(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/(\w+)=([\d.]+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

/** The VM did not get as far as reporting the command's exit code. */
export class VmError extends LabError {
  constructor(
    message: string,
    readonly consoleTail: string,
    readonly qemuStderr: string,
  ) {
    const tail = [qemuStderr.trim(), consoleTail.trim()].filter((s) => s !== '').join('\n');
    super(tail ? `${message}\n${tail.split('\n').slice(-20).join('\n')}` : message);
  }
}

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The directories the VM gives a fresh tmpfs over the read-only host root. */
export function vmTmpfsDirs(
  home: string | undefined,
  projectDir: string,
  exists: (p: string) => boolean = existsSync,
): string[] {
  const dirs = ['/tmp', '/run', '/var/tmp'];
  // npm and npx write logs and caches under ~/.npm even to run a local binary.
  const npm = home && home !== '/' ? resolve(home, '.npm') : undefined;
  if (npm && exists(npm) && !isInside(npm, projectDir)) dirs.push(npm);
  return dirs;
}

/** The command's environment inside the VM. */
export function vmCommandEnv(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  out.PATH ||= defaultPath;
  out.HOME ||= '/root';
  // Tells svclab inside the VM not to start another VM (SVCLAB_VM=always would recurse).
  out.SVCLAB_IN_VM = '1';
  return out;
}

/**
 * tcg unless KVM is asked for (option, or SVCLAB_VM_ACCEL=kvm): nested KVM was seen to stall
 * at kernel decompression on this kind of machine, while emulation always boots.
 */
export function resolveAccel(
  accel: VmAccel | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): VmAccel {
  if (accel) return accel;
  const v = env.SVCLAB_VM_ACCEL?.trim().toLowerCase();
  if (v === undefined || v === '' || v === 'tcg') return 'tcg';
  if (v === 'kvm') return 'kvm';
  throw new LabError(`SVCLAB_VM_ACCEL must be tcg or kvm, not "${env.SVCLAB_VM_ACCEL}"`);
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Keeps the last `limit` bytes of a stream, for error messages. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > this.limit && this.chunks.length > 1)
      this.size -= this.chunks.shift()!.length;
  }
  toString(): string {
    return Buffer.concat(this.chunks).toString('utf8').slice(-this.limit);
  }
}

/**
 * Boots the VM, runs one command chrooted into the host root, streams its output, and
 * returns its exit code. QEMU is always gone when this settles: on success it powered off,
 * otherwise it was killed (timeout, abort, SIGINT / SIGTERM, the caller exiting). If the
 * caller dies hard, `setpriv --pdeathsig` takes QEMU with it; sweepVms catches the rest.
 */
export async function runInVm(opts: RunInVmOptions): Promise<VmRunResult> {
  const cwd = resolve(opts.cwd);
  const projectDir = resolve(opts.projectDir ?? cwd);
  if (projectDir === '/')
    throw new LabError('refusing to share / writable with the VM: pass a project directory');
  if (!isInside(cwd, projectDir))
    throw new LabError(`cwd ${cwd} is not inside the project directory ${projectDir}`);
  const accel = resolveAccel(opts.accel);
  const debug = opts.debug ?? Boolean(process.env.SVCLAB_VM_DEBUG);
  const onConsole =
    opts.onConsole ?? (debug ? (b: Buffer) => void process.stderr.write(b) : undefined);
  const qemu = await findQemu();
  const kernel = await ensureKernel({
    kernel: opts.kernel,
    cacheDir: opts.cacheDir,
    log: opts.log,
  });

  const env = vmCommandEnv(opts.env ?? process.env);
  const spec = renderRunSpec({
    projectDir,
    tmpfs: vmTmpfsDirs(env.HOME, projectDir),
    commandScript: renderCommandScript({ command: opts.command, cwd, env }),
  });
  const specBytes = Buffer.from(spec, 'utf8');
  const id = randomBytes(4).toString('hex');
  // Node hands fds >= 3 to the child as connected UNIX sockets; QEMU adopts them with
  // `-chardev socket,fd=N`, so no FIFO or socket file is ever created on disk.
  const fds = { control: 3, stdout: 4, stderr: 5 };
  const args = buildQemuArgs({
    id,
    ownerPid: process.pid,
    kernelPath: kernel.kernelPath,
    initrdPath: kernel.initrdPath,
    memoryMiB: opts.memoryMiB ?? 2048,
    cpus: opts.cpus ?? 2,
    accel,
    projectDir,
    specBytes: specBytes.length,
    fds,
    debug,
    appendCmdline: process.env.SVCLAB_VM_APPEND,
  });
  // If this process dies without running any handler (SIGKILL, crash), the kernel sends
  // QEMU SIGKILL: no VM outlives the run that started it.
  const [file, argv] = qemu.setpriv
    ? [qemu.setpriv, ['--pdeathsig', 'SIGKILL', '--', qemu.qemu, ...args]]
    : [qemu.qemu, args];

  const started = performance.now();
  // Its own process group: a Ctrl-C at the terminal reaches only us, and we stop the VM, so
  // the run always ends through one path (exit 130) instead of racing QEMU's own exit.
  const child = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const control = child.stdio[fds.control] as Readable & Writable;
  const consoleTail = new Tail(64 * 1024);
  const stderrTail = new Tail(16 * 1024);
  const onOutput =
    opts.onOutput ??
    ((s: OutputStream, b: Buffer) =>
      void (s === 'stdout' ? process.stdout : process.stderr).write(b));

  let startedAt: number | undefined;
  let guestPhases: Record<string, number> = {};
  let exitedAt: number | undefined;
  let exitCode: number | undefined;
  let timedOut = false;
  let interruptedBy: NodeJS.Signals | undefined;

  control.write(specBytes);
  let controlBuf = '';
  control.on('data', (b: Buffer) => {
    controlBuf += b.toString('utf8');
    let nl: number;
    while ((nl = controlBuf.indexOf('\n')) >= 0) {
      const line = controlBuf.slice(0, nl).trim();
      controlBuf = controlBuf.slice(nl + 1);
      if (line.startsWith(controlLines.started)) {
        startedAt = performance.now();
        guestPhases = parseGuestPhases(line.slice(controlLines.started.length));
      } else if (line.startsWith(controlLines.exitPrefix)) {
        exitedAt = performance.now();
        exitCode = Number(line.slice(controlLines.exitPrefix.length));
      }
    }
  });
  (child.stdio[fds.stdout] as Readable).on('data', (b: Buffer) => onOutput('stdout', b));
  (child.stdio[fds.stderr] as Readable).on('data', (b: Buffer) => onOutput('stderr', b));
  child.stdout!.on('data', (b: Buffer) => {
    consoleTail.push(b);
    onConsole?.(b);
  });
  child.stderr!.on('data', (b: Buffer) => stderrTail.push(b));
  // Sockets report ECONNRESET when QEMU is killed; the close event below is what matters.
  for (const s of child.stdio) (s as Readable | null)?.on('error', () => {});

  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const interrupt = (sig: NodeJS.Signals) => {
    interruptedBy ??= sig;
    kill();
  };
  const onSigint = () => interrupt('SIGINT');
  const onSigterm = () => interrupt('SIGTERM');
  const onAbort = () => interrupt('SIGINT');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.on('exit', kill);
  opts.signal?.addEventListener('abort', onAbort);
  if (opts.signal?.aborted) onAbort();
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          kill();
        }, opts.timeoutMs);

  try {
    const spawnError = await new Promise<Error | undefined>((res) => {
      child.once('error', (err) => res(err));
      child.once('close', () => res(undefined));
    });
    const ended = performance.now();
    const base = {
      bootMs: (startedAt ?? ended) - started,
      commandMs: startedAt === undefined ? 0 : (exitedAt ?? ended) - startedAt,
      teardownMs: exitedAt === undefined ? 0 : ended - exitedAt,
      totalMs: ended - started,
      kernelRelease: kernel.release,
      guestPhases,
    };
    if (spawnError) throw new LabError(`failed to start ${qemu.qemu}`, { cause: spawnError });
    if (timedOut) return { ...base, exitCode: 124, timedOut, interruptedBy };
    if (interruptedBy)
      return {
        ...base,
        exitCode: 128 + (interruptedBy === 'SIGINT' ? 2 : 15),
        timedOut,
        interruptedBy,
      };
    if (exitCode === undefined || Number.isNaN(exitCode)) {
      const where =
        startedAt === undefined ? 'before the command started' : 'while the command ran';
      throw new VmError(
        `VM ${id} stopped ${where} (qemu exit ${child.exitCode ?? child.signalCode})`,
        consoleTail.toString(),
        stderrTail.toString(),
      );
    }
    return { ...base, exitCode, timedOut };
  } finally {
    if (timer) clearTimeout(timer);
    kill();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.off('exit', kill);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
