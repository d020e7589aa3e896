import Docker from 'dockerode';
import { LabError } from '../../exec/index.js';

let client: Docker | undefined;

/** One Docker API client per process; honours DOCKER_HOST like the docker CLI does. */
export function docker(): Docker {
  client ??= new Docker();
  return client;
}

/** Where the client talks to, for messages. */
export function dockerEndpoint(): string {
  return process.env.DOCKER_HOST ?? '/var/run/docker.sock';
}

/** Undefined when a Docker daemon answers within the deadline, else why not. */
export async function dockerUnavailable(timeoutMs = 3000): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker().ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return undefined;
  } catch (err) {
    return `no Docker daemon answers on ${dockerEndpoint()} (${err instanceof Error ? err.message : String(err)}); start one with scripts/docker/start-dockerd.sh`;
  } finally {
    clearTimeout(timer);
  }
}

export async function requireDocker(): Promise<void> {
  const why = await dockerUnavailable();
  if (why) throw new LabError(why);
}

/** A 404 from the Docker API: the object is already gone. */
export function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number }).statusCode === 404;
}
