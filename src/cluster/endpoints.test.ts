import { describe, expect, it } from 'vitest';
import { serviceWithDefaults } from '../model/service.js';
import type { PodSpec, ServiceSpec } from '../model/types.js';
import { computeProxyState } from './endpoints.js';

const pod = (
  name: string,
  node: string,
  labels: Record<string, string>,
  extra: Partial<PodSpec> = {},
): PodSpec => ({
  name,
  node,
  ip: `10.244.0.${name.length}`,
  hostNetwork: false,
  labels,
  ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  ready: true,
  terminating: false,
  ...extra,
});

const service = (extra: Partial<ServiceSpec> = {}): ServiceSpec =>
  serviceWithDefaults({
    name: 'web',
    clusterIP: '10.96.0.10',
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
    selector: { app: 'web' },
    ...extra,
  });

describe('computeProxyState', () => {
  it('selects pods by label and resolves named target ports per pod', () => {
    const pods = [
      pod('a', 'n1', { app: 'web' }),
      pod(
        'bb',
        'n2',
        { app: 'web' },
        { ports: [{ name: 'http', containerPort: 9000, protocol: 'TCP' }] },
      ),
      pod('ccc', 'n2', { app: 'other' }),
    ];
    const state = computeProxyState({ services: [service()], pods });
    expect(state.servicePorts).toHaveLength(1);
    const sp = state.servicePorts[0]!;
    expect(sp.name).toBe('default/web:http');
    expect(sp.endpoints.map((e) => [e.podName, e.port, e.nodeName])).toEqual([
      ['a', 8080, 'n1'],
      ['bb', 9000, 'n2'],
    ]);
  });

  it('skips pods that do not declare a named target port', () => {
    const pods = [pod('a', 'n1', { app: 'web' }, { ports: [] })];
    expect(computeProxyState({ services: [service()], pods }).servicePorts[0]!.endpoints).toEqual(
      [],
    );
  });

  it('gives a Service without selector no endpoints', () => {
    const pods = [pod('a', 'n1', { app: 'web' })];
    expect(
      computeProxyState({ services: [service({ selector: {} })], pods }).servicePorts[0]!.endpoints,
    ).toEqual([]);
  });

  it('maps readiness and termination to EndpointSlice conditions', () => {
    const pods = [
      pod('a', 'n1', { app: 'web' }, { ready: false }),
      pod('bb', 'n1', { app: 'web' }, { terminating: true }),
    ];
    const [notReady, terminating] = computeProxyState({ services: [service()], pods })
      .servicePorts[0]!.endpoints;
    expect(notReady).toMatchObject({ ready: false, serving: false, terminating: false });
    expect(terminating).toMatchObject({ ready: false, serving: true, terminating: true });
  });
});
