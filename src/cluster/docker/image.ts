import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError, run } from '../../exec/index.js';
import { packageDir } from '../common/agents.js';
import { docker, isNotFound } from './client.js';

/**
 * The node image: SVCLAB_DOCKER_IMAGE, or the tag in scripts/docker/node-image.tag (one place for
 * the Dockerfile build, the debootstrap build and this provider).
 */
export function nodeImage(): string {
  if (process.env.SVCLAB_DOCKER_IMAGE) return process.env.SVCLAB_DOCKER_IMAGE;
  return readFileSync(join(packageDir(), 'scripts', 'docker', 'node-image.tag'), 'utf8').trim();
}

export async function imageExists(image: string): Promise<boolean> {
  try {
    await docker().getImage(image).inspect();
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw new LabError(`failed to inspect image ${image}`, { cause: err });
  }
}

/**
 * Makes sure the node image exists. svclab never pulls it (labs must work without a registry):
 * a missing default image is built locally with scripts/docker/build-node-image.sh (debootstrap
 * from the Debian mirror apt uses; about a minute and a half, once); a missing custom image is an
 * error that says how to build it.
 */
export async function ensureNodeImage(image = nodeImage()): Promise<string> {
  if (await imageExists(image)) return `${image} (cached)`;
  const script = join(packageDir(), 'scripts', 'docker', 'build-node-image.sh');
  if (process.env.SVCLAB_DOCKER_IMAGE || !existsSync(script)) {
    throw new LabError(
      `node image ${image} not found: build it with \`docker build -f scripts/docker/node.Dockerfile -t ${image} scripts/docker\` or scripts/docker/build-node-image.sh ${image}`,
    );
  }
  await run('bash', [script, image], { timeoutMs: 15 * 60_000 }).catch((err: unknown) => {
    throw new LabError(`failed to build node image ${image} with ${script}`, { cause: err });
  });
  return `${image} (built)`;
}
