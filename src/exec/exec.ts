import { spawn } from 'node:child_process';
import { ExecError, type CommandRecord } from './errors.js';

export interface ExecOptions {
  /** Run inside this network namespace (`ip netns exec <netns> ...`). */
  netns?: string | undefined;
  /** Written to the command's stdin (rulesets for *-restore, batches for `ip -batch -`). */
  input?: string | undefined;
  /** Deadline; the command is killed when it passes. Default 60 s. */
  timeoutMs?: number | undefined;
  /** Do not throw on a non-zero exit; the caller reads exitCode. */
  allowFailure?: boolean | undefined;
  env?: Record<string, string> | undefined;
}

export interface ExecResult extends CommandRecord {
  ok: boolean;
}

/** Receives every command the exec module runs; a lab keeps one for its diagnostic dump. */
export type CommandSink = (record: CommandRecord) => void;

const sinks = new Set<CommandSink>();

/** Subscribe to all commands run from now on; returns the unsubscribe function. */
export function onCommand(sink: CommandSink): () => void {
  sinks.add(sink);
  return () => sinks.delete(sink);
}

/**
 * The one way svclab runs a program. Every `ip`, `iptables-restore`, `nft`, `ipset`,
 * `ipvsadm` call goes through here so that a failure always carries argv, exit code, output,
 * duration and namespace, and a lab's dump can list every command it ran.
 */
export async function run(
  file: string,
  args: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns, file, ...args] : [file, ...args];
  const started = performance.now();
  const child = await spawnCaptured(argv, opts);
  const record: ExecResult = {
    argv,
    netns: opts.netns,
    exitCode: child.exitCode,
    stdout: child.stdout,
    stderr: child.stderr,
    durationMs: performance.now() - started,
    timedOut: child.timedOut,
    ok: child.exitCode === 0 && !child.timedOut,
  };
  for (const sink of sinks) sink(record);
  if (!record.ok && !opts.allowFailure) {
    throw new ExecError(record, { cause: child.error });
  }
  return record;
}

interface Captured {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The spawn failed (ENOENT, EACCES): no process ran. */
  error: Error | undefined;
}

/**
 * node:child_process directly rather than execa: every CLI command runs through here, and
 * execa's ~100 modules were a large share of a short command's start-up (issue 17).
 */
function spawnCaptured(argv: readonly string[], opts: ExecOptions): Promise<Captured> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      // Never let a lab command read the caller's terminal.
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let error: Error | undefined;
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      error = e;
    });
    if (child.stdin) {
      // A command that exits before reading all of its input (a failed restore) closes the pipe.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        // A process that never started has no exit code (Node reports the errno instead).
        exitCode: error ? undefined : (code ?? undefined),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') || (error ? error.message : ''),
        timedOut,
        error,
      });
    });
  });
}

/** Runs `ip -batch -` (optionally `-n <netns>`): many netlink operations for one process spawn. */
export function ipBatch(
  lines: readonly string[],
  opts: { netns?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  const args = opts.netns ? ['-n', opts.netns, '-batch', '-'] : ['-batch', '-'];
  return run('ip', args, { input: lines.join('\n') + '\n', timeoutMs: opts.timeoutMs });
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects with the first error after all settle. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1)
    throw new AggregateError(
      errors,
      errors.map((e) => (e instanceof Error ? e.message : String(e))).join('\n'),
    );
  return results;
}

/**
 * Runs a program with the caller's terminal (for `svclab exec`): output is not captured, the exit
 * code is returned. Still recorded for the lab's command log.
 */
export async function runInteractive(
  file: string,
  args: readonly string[],
  opts: { netns?: string } = {},
): Promise<number> {
  const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns, file, ...args] : [file, ...args];
  const started = performance.now();
  const { code, signal, error } = await new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    error?: Error;
  }>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const record: CommandRecord = {
    argv,
    netns: opts.netns,
    exitCode: error ? undefined : (code ?? undefined),
    stdout: '',
    stderr: error?.message ?? '',
    durationMs: performance.now() - started,
    timedOut: false,
  };
  for (const sink of sinks) sink(record);
  if (error) process.stderr.write(`svclab: ${error.message}\n`);
  if (error) return 127;
  return code ?? (signal ? 128 + 15 : 1);
}
