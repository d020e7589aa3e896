import type { Lab } from '../cluster/lab.js';
import { table } from './format.js';

export interface LabDescription {
  name: string;
  provider: string;
  proxy: string;
  nodes: { name: string; ip: string; podCIDR: string }[];
  pods: { name: string; node: string; ip: string; hostNetwork: boolean; ports: string[] }[];
  services: {
    name: string;
    type: string;
    clusterIP: string;
    externalIPs: string[];
    loadBalancerIPs: string[];
    ports: string[];
    endpoints: string[];
  }[];
  externalHosts: { name: string; ip: string; routes: string[] }[];
}

export function describeLab(lab: Lab): LabDescription {
  const t = lab.topology;
  const mode =
    lab.proxyMode === 'iptables'
      ? `iptables (${lab.proxyOptions.syncStrategy ?? 'partial'} sync, ${lab.proxyOptions.iptablesBackend ?? 'nft'} backend)`
      : lab.proxyMode;
  return {
    name: lab.name,
    provider: lab.backend.provider,
    proxy: mode,
    nodes: t.nodes.map((n) => ({ name: n.name, ip: n.ip, podCIDR: n.podCIDR })),
    pods: t.pods.map((p) => ({
      name: p.name,
      node: p.node,
      ip: p.ip,
      hostNetwork: p.hostNetwork,
      ports: p.ports.map((x) => `${x.containerPort}/${x.protocol}`),
    })),
    services: t.services.map((s) => ({
      name: s.name,
      type: s.type,
      clusterIP: s.clusterIP,
      externalIPs: s.externalIPs,
      loadBalancerIPs: s.loadBalancerIPs,
      ports: s.ports.map(
        (p) =>
          `${p.name ? p.name + ' ' : ''}${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`,
      ),
      endpoints: [
        ...new Set(
          lab.proxyState.servicePorts
            .filter((sp) => sp.service.name === s.name)
            .flatMap((sp) => sp.endpoints.map((e) => `${e.podName}`)),
        ),
      ],
    })),
    externalHosts: t.externalHosts.map((e) => ({
      name: e.name,
      ip: e.ip,
      routes: e.routes.map((r) => `${r.to} via ${r.via}`),
    })),
  };
}

export function formatLab(d: LabDescription): string {
  return [
    `lab ${d.name}: provider ${d.provider}, proxy ${d.proxy}`,
    '',
    table(
      ['NODE', 'IP', 'POD CIDR'],
      d.nodes.map((n) => [n.name, n.ip, n.podCIDR]),
    ),
    '',
    table(
      ['POD', 'NODE', 'IP', 'PORTS'],
      d.pods.map((p) => [
        p.name,
        p.node,
        p.hostNetwork ? `${p.ip} (hostNetwork)` : p.ip,
        p.ports.join(','),
      ]),
    ),
    '',
    table(
      ['SERVICE', 'TYPE', 'CLUSTER-IP', 'EXTERNAL', 'PORTS', 'ENDPOINTS'],
      d.services.map((s) => [
        s.name,
        s.type,
        s.clusterIP,
        [...s.externalIPs, ...s.loadBalancerIPs].join(','),
        s.ports.join(','),
        s.endpoints.join(',') || '<none>',
      ]),
    ),
    '',
    table(
      ['EXTERNAL HOST', 'IP', 'ROUTES'],
      d.externalHosts.map((e) => [e.name, e.ip, e.routes.join('; ')]),
    ),
  ].join('\n');
}
