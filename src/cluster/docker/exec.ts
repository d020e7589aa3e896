import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ExecError, type ExecOptions, type ExecResult } from '../../exec/index.js';
import { labDir } from '../state.js';
import { docker } from './client.js';

export interface ContainerExecOptions extends Omit<ExecOptions, 'netns'> {
  /** A network namespace inside the container (a pod's): runs `ip netns exec <netns> ...` there. */
  netns?: string | undefined;
  /** Appends the command to this lab's commands.jsonl (for dumps), as the netns provider does. */
  lab?: string | undefined;
}

/**
 * `docker exec` through the Docker API: runs a program inside a container and returns the same
 * record the exec module returns (argv written as the equivalent `docker exec` command line, so a
 * failure can be reproduced by hand), throwing the same ExecError. One HTTP round trip to create,
 * one hijacked stream for stdin/stdout/stderr, one inspect for the exit code: no CLI spawn.
 */
export async function containerExec(
  container: string,
  file: string,
  args: readonly string[],
  opts: ContainerExecOptions = {},
): Promise<ExecResult> {
  const inner = opts.netns ? ['ip', 'netns', 'exec', opts.netns, file, ...args] : [file, ...args];
  const argv = ['docker', 'exec', ...(opts.input !== undefined ? ['-i'] : []), container, ...inner];
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let stdout = '';
  let stderr = '';
  let exitCode: number | undefined;
  let timedOut = false;
  let cause: unknown;
  try {
    const exec = await docker()
      .getContainer(container)
      .exec({
        Cmd: inner,
        AttachStdin: opts.input !== undefined,
        AttachStdout: true,
        AttachStderr: true,
        Env: opts.env ? Object.entries(opts.env).map(([k, v]) => `${k}=${v}`) : undefined,
      });
    const stream = await exec.start({ hijack: true, stdin: opts.input !== undefined });
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', (b: Buffer) => (stdout += b.toString()));
    err.on('data', (b: Buffer) => (stderr += b.toString()));
    docker().modem.demuxStream(stream, out, err);
    const done = new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    if (opts.input !== undefined) {
      stream.write(opts.input);
      // Half-close: the program sees EOF on stdin (iptables-restore, nft -f -, ip -batch -).
      stream.end();
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([done, deadline]).finally(() => clearTimeout(timer));
    if (outcome === 'timeout') {
      timedOut = true;
      stream.destroy();
      // The exec's process runs on in the container unless killed; its PID is a host PID.
      const pid = (await exec.inspect().catch(() => undefined))?.Pid;
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } else {
      exitCode = await exitCodeOf(exec);
    }
  } catch (err) {
    cause = err;
    stderr += `${stderr ? '\n' : ''}docker API: ${err instanceof Error ? err.message : String(err)}`;
  }
  const record: ExecResult = {
    argv,
    netns: undefined,
    exitCode,
    stdout,
    stderr,
    durationMs: performance.now() - started,
    timedOut,
    ok: exitCode === 0 && !timedOut,
  };
  if (opts.lab) logCommand(opts.lab, record);
  if (!record.ok && !opts.allowFailure) throw new ExecError(record, { cause });
  return record;
}

/** The stream ends when the process exits; Docker records the exit code a moment later. */
async function exitCodeOf(exec: {
  inspect(): Promise<{ Running: boolean; ExitCode: number | null }>;
}): Promise<number | undefined> {
  const deadline = Date.now() + 5000;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    const info = await exec.inspect();
    if (!info.Running) return info.ExitCode ?? undefined;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, wait));
  }
}

function logCommand(lab: string, rec: ExecResult): void {
  const line = JSON.stringify({
    at: new Date().toISOString(),
    argv: rec.argv,
    exitCode: rec.exitCode,
    durationMs: Math.round(rec.durationMs),
    stderr: rec.stderr.slice(0, 2000),
  });
  void appendFile(join(labDir(lab), 'logs', 'commands.jsonl'), line + '\n').catch(() => undefined);
}
