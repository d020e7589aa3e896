import { LabError } from '../exec/index.js';
import { NetnsProvider } from '../netns/provider.js';
import type { Provider } from './provider.js';
import { readLabState } from './state.js';

export const PROVIDERS = ['netns'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export function getProvider(name: string = process.env.SVCLAB_PROVIDER ?? 'netns'): Provider {
  switch (name) {
    case 'netns':
      return new NetnsProvider();
    default:
      throw new LabError(`unknown provider "${name}" (valid: ${PROVIDERS.join(', ')})`);
  }
}

/** The provider that owns an existing lab, from its state. */
export async function providerOfLab(lab: string): Promise<Provider> {
  const state = await readLabState(lab);
  return getProvider(state.provider);
}
