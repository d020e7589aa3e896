import { LabError } from '../exec/index.js';
import { NetnsProvider } from '../netns/provider.js';
import { DockerProvider } from './docker/provider.js';
import { KindProvider } from './kind/provider.js';
import { KubeconfigProvider } from './kubeconfig/provider.js';
import type { Provider } from './provider.js';
import { readLabState } from './state.js';

export const PROVIDERS = ['netns', 'docker', 'kind', 'kubeconfig'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export function getProvider(name: string = process.env.SVCLAB_PROVIDER ?? 'netns'): Provider {
  switch (name) {
    case 'netns':
      return new NetnsProvider();
    case 'docker':
      return new DockerProvider();
    case 'kind':
      return new KindProvider();
    case 'kubeconfig':
      return new KubeconfigProvider();
    default:
      throw new LabError(`unknown provider "${name}" (valid: ${PROVIDERS.join(', ')})`);
  }
}

/** The provider that owns an existing lab, from its state. */
export async function providerOfLab(lab: string): Promise<Provider> {
  const state = await readLabState(lab);
  return getProvider(state.provider);
}
