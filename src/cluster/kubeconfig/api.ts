import { PassThrough, Writable } from 'node:stream';
import {
  CoreV1Api,
  DiscoveryV1Api,
  Exec,
  KubeConfig,
  VersionApi,
  type V1Status,
} from '@kubernetes/client-node';
import { LabError, type ExecResult } from '../../exec/index.js';

export interface KubeconfigOptions {
  /** Path of the kubeconfig; default $KUBECONFIG or ~/.kube/config (client-node's loadFromDefault). */
  kubeconfig?: string | undefined;
  /** Context to use; default the kubeconfig's current-context. */
  context?: string | undefined;
}

/**
 * The handful of Kubernetes API calls svclab makes, on one KubeConfig. Typed clients from
 * @kubernetes/client-node; exec runs over the API server's exec subresource (websocket), so
 * nothing here needs kubectl.
 */
export class KubeApi {
  readonly core: CoreV1Api;
  readonly discovery: DiscoveryV1Api;
  private readonly execClient: Exec;

  constructor(readonly kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.discovery = kc.makeApiClient(DiscoveryV1Api);
    this.execClient = new Exec(kc);
  }

  static load(opts: KubeconfigOptions = {}): KubeApi {
    const kc = new KubeConfig();
    try {
      if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
      else kc.loadFromDefault();
      if (opts.context) kc.setCurrentContext(opts.context);
    } catch (err) {
      throw new LabError(`failed to load kubeconfig ${opts.kubeconfig ?? '(default)'}`, {
        cause: err,
      });
    }
    if (!kc.getCurrentCluster())
      throw new LabError(
        `kubeconfig ${opts.kubeconfig ?? '(default)'} has no cluster for context "${kc.getCurrentContext()}"`,
      );
    return new KubeApi(kc);
  }

  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? '?';
  }

  /** `major.minor` and gitVersion of the API server, for result tags. */
  async serverVersion(): Promise<string> {
    const v = await this.kc.makeApiClient(VersionApi).getCode();
    return v.gitVersion;
  }

  /** Runs a command in a container and collects its output, like run() does for local programs. */
  async exec(
    namespace: string,
    pod: string,
    container: string,
    argv: string[],
    opts: { input?: string; allowFailure?: boolean; timeoutMs?: number } = {},
  ): Promise<ExecResult> {
    const started = performance.now();
    let stdout = '';
    let stderr = '';
    const sink = (append: (s: string) => void) =>
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          append(chunk.toString('utf8'));
          cb();
        },
      });
    const stdin = opts.input === undefined ? null : PassThrough.from([opts.input]);
    const status = await new Promise<V1Status | undefined>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new LabError(
              `exec in ${namespace}/${pod}/${container} timed out after ${opts.timeoutMs ?? 60_000} ms: ${argv.join(' ')}`,
            ),
          ),
        opts.timeoutMs ?? 60_000,
      );
      this.execClient
        .exec(
          namespace,
          pod,
          container,
          argv,
          sink((s) => (stdout += s)),
          sink((s) => (stderr += s)),
          stdin,
          false,
          (st) => {
            clearTimeout(timer);
            resolve(st);
          },
        )
        .then((ws) => ws.on('close', () => setTimeout(() => resolve(undefined), 100).unref()))
        .catch((err: unknown) => {
          clearTimeout(timer);
          reject(
            new LabError(`failed to exec in ${namespace}/${pod}/${container}: ${argv.join(' ')}`, {
              cause: err,
            }),
          );
        });
    });
    const exitCode =
      status?.status === 'Success'
        ? 0
        : Number(status?.details?.causes?.find((c) => c.reason === 'ExitCode')?.message ?? 1);
    const record: ExecResult = {
      argv: ['kubectl-exec', `${namespace}/${pod}/${container}`, ...argv],
      netns: undefined,
      exitCode,
      stdout,
      stderr: stderr || (status?.status === 'Failure' ? (status.message ?? '') : ''),
      durationMs: performance.now() - started,
      timedOut: false,
      ok: exitCode === 0,
    };
    if (!record.ok && !opts.allowFailure)
      throw new LabError(
        `${argv.join(' ')} in ${namespace}/${pod} exited ${exitCode}: ${record.stderr.trim()}`,
      );
    return record;
  }

  /** A raw exec stream (stdin -> command -> stdout) for long-lived pipes such as the agent bridge. */
  execStream(
    namespace: string,
    pod: string,
    container: string,
    argv: string[],
    io: {
      stdin: NodeJS.ReadableStream;
      stdout: Writable;
      stderr: Writable;
      onStatus: (st: V1Status) => void;
    },
  ) {
    return this.execClient.exec(
      namespace,
      pod,
      container,
      argv,
      io.stdout,
      io.stderr,
      io.stdin as never,
      false,
      io.onStatus,
    );
  }

  /** GET through the API server's node proxy (`/api/v1/nodes/<node>:<port>/proxy/<path>`). */
  nodeProxyGet(node: string, port: number, path: string): Promise<string> {
    return this.core.connectGetNodeProxyWithPath({
      name: `${node}:${port}`,
      path: path.replace(/^\//, ''),
    });
  }
}
