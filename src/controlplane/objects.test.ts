import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeProxyState } from '../cluster/endpoints.js';
import { loadTopology } from '../model/index.js';
import { planNetns } from '../netns/plan.js';
import { apiserverArgs, controllerManagerArgs, etcdArgs } from './components.js';
import { controlPlaneFiles, controlPlaneIP, kubernetesServiceIP } from './layout.js';
import {
  applyServiceSpec,
  podStatus,
  proxyStateFromApi,
  proxyStateKey,
  serviceFromApi,
  serviceKeys,
  serviceObject,
} from './objects.js';

const root = join(import.meta.dirname, '..', '..');
const topo = await loadTopology(join(root, 'topologies', 'three-node.yaml'));

describe('control plane layout', () => {
  it('puts the control plane on the highest free node-network address, the kubernetes Service on .1', () => {
    expect(controlPlaneIP(topo)).toBe('172.18.0.254');
    expect(kubernetesServiceIP(topo)).toBe('10.96.0.1');
    const taken = { ...topo, externalHosts: [{ name: 'x', ip: '172.18.0.254', routes: [] }] };
    expect(controlPlaneIP(taken)).toBe('172.18.0.253');
  });

  it('plans a control-plane namespace on the fabric only when asked', () => {
    expect(planNetns('l', topo).namespaces.some((n) => n.role === 'control-plane')).toBe(false);
    const plan = planNetns('l', topo, { controlPlaneIP: '172.18.0.254' });
    const cp = plan.namespaces.find((n) => n.role === 'control-plane')!;
    expect(cp.netns).toBe('svclab.l.control-plane');
    expect(cp.batch).toContain('addr add 172.18.0.254/24 dev eth0');
    expect(plan.rootBatch).toContain(
      'link add eth0 netns svclab.l.control-plane type veth peer name cp netns svclab.l.fabric',
    );
    expect(plan.namespaces.find((n) => n.role === 'fabric')!.batch).toContain(
      'link set cp master br0',
    );
  });

  it('binds every component inside the lab, with the topology Service CIDR and NodePort range', () => {
    const cfg = {
      lab: 'l',
      ip: '172.18.0.254',
      serviceCIDR: '10.96.0.0/16',
      nodePortRange: '30000-32767',
      files: controlPlaneFiles('l'),
    };
    expect(etcdArgs(cfg)).toContain('--listen-client-urls=http://127.0.0.1:2379');
    const api = apiserverArgs(cfg);
    expect(api).toContain('--bind-address=172.18.0.254');
    expect(api).toContain('--service-cluster-ip-range=10.96.0.0/16');
    expect(api).toContain('--service-node-port-range=30000-32767');
    const kcm = controllerManagerArgs(cfg);
    expect(kcm.find((a) => a.startsWith('--controllers='))).toContain('endpointslice-controller');
    expect(kcm).toContain('--bind-address=172.18.0.254');
    for (const a of [...api, ...kcm]) expect(a).not.toMatch(/0\.0\.0\.0|127\.0\.0\.1:6443/);
  });
});

describe('topology <-> API objects', () => {
  const web = topo.services.find((s) => s.name === 'web')!;

  it('leaves addresses svclab chose to the API server, asks for the ones the file pinned', () => {
    const auto = serviceObject('l', { ...web, clusterIPAllocated: true });
    expect(auto.spec.clusterIP).toBeUndefined();
    expect(serviceObject('l', { ...web, clusterIPAllocated: undefined }).spec.clusterIP).toBe(
      web.clusterIP,
    );
    const ports = serviceObject('l', {
      ...web,
      ports: web.ports.map((p, i) => ({ ...p, nodePortAllocated: i === 0 ? true : undefined })),
    }).spec.ports;
    expect(ports[0].nodePort).toBeUndefined();
    expect(ports[1].nodePort).toBe(web.ports[1]!.nodePort);
  });

  it('reads a Service back as the model has it (defaults filled in)', () => {
    const obj = serviceObject('l', web);
    obj.spec.clusterIP = web.clusterIP;
    const back = serviceFromApi(obj);
    expect({ ...back }).toEqual({
      ...web,
      clusterIPAllocated: undefined,
      ports: web.ports.map((p) => ({ ...p, nodePortAllocated: undefined })),
    } as typeof back);
  });

  it('sends loadBalancerSourceRanges, reads them back, and a PUT without them removes them', () => {
    const lb = {
      ...web,
      type: 'LoadBalancer' as const,
      loadBalancerSourceRanges: ['172.18.0.0/24', '192.0.2.7/32'],
    };
    const obj = serviceObject('l', lb);
    expect(obj.spec.loadBalancerSourceRanges).toEqual(['172.18.0.0/24', '192.0.2.7/32']);
    expect(serviceFromApi(obj).loadBalancerSourceRanges).toEqual(lb.loadBalancerSourceRanges);
    expect(serviceObject('l', web).spec).not.toHaveProperty('loadBalancerSourceRanges');
    const cleared = applyServiceSpec(obj, { ...lb, loadBalancerSourceRanges: [] });
    expect(cleared.spec).not.toHaveProperty('loadBalancerSourceRanges');
    expect(serviceFromApi(cleared).loadBalancerSourceRanges).toEqual([]);
  });

  it('keeps externalTrafficPolicy on a ClusterIP Service with externalIPs (externally accessible)', () => {
    const clusterIP = {
      ...web,
      type: 'ClusterIP' as const,
      externalTrafficPolicy: 'Local' as const,
    };
    expect(serviceObject('l', { ...clusterIP, externalIPs: [] }).spec.externalTrafficPolicy).toBe(
      undefined,
    );
    const withExternal = serviceObject('l', { ...clusterIP, externalIPs: ['172.18.100.10'] });
    expect(withExternal.spec.externalTrafficPolicy).toBe('Local');
  });

  it('a PUT keeps allocated NodePorts and drops them when the Service becomes ClusterIP', () => {
    const existing = serviceObject('l', web);
    existing.spec.ports[0].nodePort = 31234;
    const kept = applyServiceSpec(existing, {
      ...web,
      ports: web.ports.map((p) => ({ ...p, nodePortAllocated: true })),
    });
    expect(kept.spec.ports[0].nodePort).toBe(31234);
    const cluster = applyServiceSpec(existing, { ...web, type: 'ClusterIP' });
    expect(cluster.spec.ports.every((p: { nodePort?: number }) => p.nodePort === undefined)).toBe(
      true,
    );
  });

  it('sends a pinned healthCheckNodePort, leaves an allocated one to the API server, reads it back', () => {
    const local = topo.services.find((s) => s.name === 'web-local')!;
    expect(local.healthCheckNodePortAllocated).toBe(true);
    expect(serviceObject('l', local).spec.healthCheckNodePort).toBeUndefined();
    const pinned = {
      ...local,
      healthCheckNodePort: 32001,
      healthCheckNodePortAllocated: undefined,
    };
    const obj = serviceObject('l', pinned);
    expect(obj.spec.healthCheckNodePort).toBe(32001);
    expect(serviceFromApi(obj).healthCheckNodePort).toBe(32001);
    expect(serviceFromApi(serviceObject('l', web)).healthCheckNodePort).toBeUndefined();
  });

  it('a PUT keeps the allocated healthCheckNodePort, and drops it when the Service stops needing one', () => {
    const local = topo.services.find((s) => s.name === 'web-local')!;
    const existing = serviceObject('l', local);
    existing.spec.healthCheckNodePort = 31999;
    expect(applyServiceSpec(existing, local).spec.healthCheckNodePort).toBe(31999);
    const cluster = { ...local, externalTrafficPolicy: 'Cluster' as const };
    expect(applyServiceSpec(existing, cluster).spec.healthCheckNodePort).toBeUndefined();
    const nodePort = { ...local, type: 'NodePort' as const };
    expect(applyServiceSpec(existing, nodePort).spec.healthCheckNodePort).toBeUndefined();
  });

  it('turns EndpointSlices into the proxy state the topology implies, and notices a difference', () => {
    const want = computeProxyState(topo);
    const services = topo.services.map((s) => ({
      ...serviceObject('l', s),
      // What the API server's allocators fill in.
      spec: {
        ...serviceObject('l', s).spec,
        clusterIP: s.clusterIP,
        healthCheckNodePort: s.healthCheckNodePort,
      },
      status: { loadBalancer: { ingress: s.loadBalancerIPs.map((ip) => ({ ip })) } },
    }));
    const slices = want.servicePorts
      .filter((sp, i, all) => all.findIndex((x) => x.service.name === sp.service.name) === i)
      .map((sp) => ({
        metadata: {
          name: `${sp.service.name}-x`,
          namespace: sp.service.namespace,
          labels: { 'kubernetes.io/service-name': sp.service.name },
        },
        addressType: 'IPv4',
        ports: want.servicePorts
          .filter((p) => p.service.name === sp.service.name)
          .map((p) => ({
            name: p.port.name,
            protocol: p.port.protocol,
            port: p.endpoints[0]?.port ?? 8080,
          })),
        endpoints: sp.endpoints.map((e) => ({
          addresses: [e.ip],
          nodeName: e.nodeName,
          ...(e.zone ? { zone: e.zone } : {}),
          targetRef: { kind: 'Pod', name: e.podName },
          conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
        })),
      }));
    const key = (s: typeof slices) =>
      proxyStateKey(proxyStateFromApi(services, s), serviceKeys(topo));
    expect(key(slices)).toBe(proxyStateKey(want, serviceKeys(topo)));
    const unready = structuredClone(slices);
    unready.find(
      (s) => s.metadata.labels['kubernetes.io/service-name'] === 'web',
    )!.endpoints[0]!.conditions.ready = false;
    expect(key(unready)).not.toBe(proxyStateKey(want, serviceKeys(topo)));
  });

  it('sends trafficDistribution, reads it back, and a PUT without it removes it', () => {
    const obj = serviceObject('l', { ...web, trafficDistribution: 'PreferClose' });
    expect(obj.spec.trafficDistribution).toBe('PreferClose');
    expect(serviceObject('l', web).spec).not.toHaveProperty('trafficDistribution');
    expect(serviceFromApi(obj).trafficDistribution).toBe('PreferClose');
    expect(serviceFromApi(serviceObject('l', web))).not.toHaveProperty('trafficDistribution');
    expect(applyServiceSpec(obj, web).spec).not.toHaveProperty('trafficDistribution');
    expect(applyServiceSpec(serviceObject('l', web), { ...web, trafficDistribution: 'PreferSameNode' }).spec.trafficDistribution).toBe('PreferSameNode'); // prettier-ignore
  });

  it("reads an endpoint's zone and hints as kube-proxy's EndpointSliceCache does", () => {
    const service = { ...serviceObject('l', web), spec: { ...serviceObject('l', web).spec, clusterIP: web.clusterIP } }; // prettier-ignore
    const endpoint = (ip: string, extra: Record<string, unknown>) => ({
      addresses: [ip],
      nodeName: 'node-a',
      conditions: { ready: true },
      ...extra,
    });
    const slice = {
      metadata: { name: 'web-x', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } }, // prettier-ignore
      addressType: 'IPv4',
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints: [
        endpoint('10.244.0.2', { zone: 'zone-a', hints: { forZones: [{ name: 'zone-a' }] } }),
        endpoint('10.244.0.3', { zone: 'zone-b', hints: { forZones: [{ name: 'zone-b' }], forNodes: [{ name: 'node-b' }] } }), // prettier-ignore
        endpoint('10.244.0.4', { hints: { forZones: [] } }),
        endpoint('10.244.0.5', {}),
      ],
    };
    const eps = proxyStateFromApi([service], [slice]).servicePorts.find(
      (sp) => sp.port.name === 'http',
    )!.endpoints;
    expect(eps.map((e) => [e.ip, e.zone, e.zoneHints, e.nodeHints])).toEqual([
      ['10.244.0.2', 'zone-a', ['zone-a'], undefined],
      ['10.244.0.3', 'zone-b', ['zone-b'], ['node-b']],
      // An empty forZones is no hint (ZoneHints().Len() == 0).
      ['10.244.0.4', undefined, undefined, undefined],
      ['10.244.0.5', undefined, undefined, undefined],
    ]);
  });

  it('reports a pod Running with its IP, Ready as probed', () => {
    const pod = topo.pods[0]!;
    const st = podStatus(pod, false, '172.18.0.2', '2026-01-01T00:00:00Z') as {
      status: { podIP: string; phase: string; conditions: { type: string; status: string }[] };
    };
    expect(st.status.podIP).toBe(pod.ip);
    expect(st.status.phase).toBe('Running');
    expect(st.status.conditions.find((c) => c.type === 'Ready')!.status).toBe('False');
  });
});
