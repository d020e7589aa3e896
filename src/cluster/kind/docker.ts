import { Writable } from 'node:stream';
import Docker from 'dockerode';
import type { ExecResult } from '../../exec/index.js';
import { LabError } from '../../exec/index.js';
import type { RunIn } from '../kubeconfig/backend.js';
import { LAB_LABEL } from '../kubeconfig/names.js';

let client: Docker | undefined;
function docker(): Docker {
  return (client ??= new Docker());
}

/**
 * Runs a command in a container (a kind node, an external host) through the Docker API. kind's
 * node containers are privileged and ship iptables, ipvsadm (for IPVS mode), nft and conntrack,
 * so node diagnostics run there with the node's own binaries and iptables backend.
 */
export function dockerExec(container: string): RunIn {
  return async (file, args, opts = {}) => {
    const argv = [file, ...args];
    const started = performance.now();
    let stdout = '';
    let stderr = '';
    const sink = (append: (s: string) => void) =>
      new Writable({
        write(chunk: Buffer, _e, cb) {
          append(chunk.toString('utf8'));
          cb();
        },
      });
    const c = docker().getContainer(container);
    const exec = await c.exec({
      Cmd: argv,
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: opts.input !== undefined,
    });
    const stream = await exec.start({ hijack: true, stdin: opts.input !== undefined });
    const done = new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
      setTimeout(
        () => reject(new LabError(`docker exec in ${container} timed out: ${argv.join(' ')}`)),
        opts.timeoutMs ?? 60_000,
      ).unref();
    });
    docker().modem.demuxStream(
      stream,
      sink((s) => (stdout += s)),
      sink((s) => (stderr += s)),
    );
    if (opts.input !== undefined) stream.end(opts.input);
    await done;
    const exitCode = (await exec.inspect()).ExitCode ?? -1;
    const record: ExecResult = {
      argv: ['docker', 'exec', container, ...argv],
      netns: undefined,
      exitCode,
      stdout,
      stderr,
      durationMs: performance.now() - started,
      timedOut: false,
      ok: exitCode === 0,
    };
    if (!record.ok && !opts.allowFailure)
      throw new LabError(
        `${argv.join(' ')} in container ${container} exited ${exitCode}: ${stderr.trim()}`,
      );
    return record;
  };
}

/** Removes the lab's containers (external hosts), found by label, not by name. */
export async function removeLabContainers(lab: string): Promise<string[]> {
  const list = await docker().listContainers({
    all: true,
    filters: { label: [`${LAB_LABEL}=${lab}`] },
  });
  await Promise.all(list.map((c) => docker().getContainer(c.Id).remove({ force: true })));
  return list.map((c) => `container ${c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12)}`);
}

/** Whether the local Docker has the image (then `kind load` can copy it into the nodes). */
export async function hasLocalImage(image: string): Promise<boolean> {
  try {
    await docker().getImage(image).inspect();
    return true;
  } catch {
    return false;
  }
}
