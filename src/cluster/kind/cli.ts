import { LabError, run, type ExecResult } from '../../exec/index.js';

export interface KindCliOptions {
  /** The kind binary; default $SVCLAB_KIND or `kind` on PATH. */
  binary?: string | undefined;
  /** Print commands instead of running them (`svclab up --provider kind --dry-run`). */
  dryRun?: boolean | undefined;
  /** Receives each command line in dry-run mode. */
  print?: ((line: string) => void) | undefined;
}

/**
 * A typed wrapper over the kind CLI, through the exec module (so every call is recorded and fails
 * with argv, exit code and output). kind itself talks to Docker; svclab never calls docker for
 * what kind does.
 */
export class KindCli {
  private readonly binary: string;

  constructor(private readonly opts: KindCliOptions = {}) {
    this.binary = opts.binary ?? process.env.SVCLAB_KIND ?? 'kind';
  }

  private async kind(
    args: string[],
    input?: string,
    timeoutMs = 600_000,
  ): Promise<ExecResult | undefined> {
    if (this.opts.dryRun) {
      (this.opts.print ?? ((l) => process.stdout.write(l + '\n')))(
        `${this.binary} ${args.join(' ')}${input !== undefined ? ' <<EOF\n' + input + 'EOF' : ''}`,
      );
      return undefined;
    }
    return run(this.binary, args, { input, timeoutMs });
  }

  /** `kind create cluster --config -`; waits for the control plane (kind's --wait). */
  async createCluster(
    name: string,
    configYaml: string,
    opts: { waitSeconds?: number } = {},
  ): Promise<void> {
    await this.kind(
      [
        'create',
        'cluster',
        '--name',
        name,
        '--config',
        '-',
        '--wait',
        `${opts.waitSeconds ?? 300}s`,
      ],
      configYaml,
    );
  }

  async deleteCluster(name: string): Promise<void> {
    await this.kind(['delete', 'cluster', '--name', name]);
  }

  async getClusters(): Promise<string[]> {
    const r = await this.kind(['get', 'clusters']);
    // kind prints "No kind clusters found." on stderr and nothing on stdout when there are none.
    return (r?.stdout ?? '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  }

  /** The cluster's kubeconfig (API server on 127.0.0.1:<port>, as kind writes it for the host). */
  async kubeconfig(name: string): Promise<string> {
    const r = await this.kind(['get', 'kubeconfig', '--name', name]);
    if (r && !r.stdout.includes('apiVersion'))
      throw new LabError(`kind get kubeconfig --name ${name} returned no kubeconfig`);
    return r?.stdout ?? '';
  }

  /** Copies a local Docker image into every node (no registry needed). */
  async loadImage(name: string, image: string): Promise<void> {
    await this.kind(['load', 'docker-image', '--name', name, image]);
  }

  /** Node container names (`<cluster>-control-plane`, `<cluster>-worker`, ...). */
  async nodes(name: string): Promise<string[]> {
    const r = await this.kind(['get', 'nodes', '--name', name]);
    return (r?.stdout ?? '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  }
}
