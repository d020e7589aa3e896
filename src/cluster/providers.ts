import { LabError } from '../exec/errors.js';
import type { Provider } from './provider.js';
import { readLabState } from './state.js';

export const PROVIDERS = ['netns', 'docker', 'kind', 'kubeconfig'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/**
 * Each provider's module, imported only when that provider is asked for: the container and
 * cluster providers pull in dockerode, testcontainers and the Kubernetes client, which a netns
 * lab never needs and which used to be most of a short command's start-up (issue 17).
 */
const LOADERS: Record<ProviderName, () => Promise<Provider>> = {
  netns: async () => new (await import('../netns/provider.js')).NetnsProvider(),
  docker: async () => new (await import('./docker/provider.js')).DockerProvider(),
  kind: async () => new (await import('./kind/provider.js')).KindProvider(),
  kubeconfig: async () => new (await import('./kubeconfig/provider.js')).KubeconfigProvider(),
};

export async function getProvider(
  name: string = process.env.SVCLAB_PROVIDER ?? 'netns',
): Promise<Provider> {
  const load = (LOADERS as Record<string, (() => Promise<Provider>) | undefined>)[name];
  if (!load) throw new LabError(`unknown provider "${name}" (valid: ${PROVIDERS.join(', ')})`);
  return load();
}

/** The provider that owns an existing lab, from its state. */
export async function providerOfLab(lab: string): Promise<Provider> {
  const state = await readLabState(lab);
  return getProvider(state.provider);
}
