import { hostname } from 'node:os';
import { stringify } from 'yaml';
import type { Topology } from '../../model/types.js';
import type { ProxyMode } from '../../proxy/types.js';
import { clusterManifests } from '../kubeconfig/cluster-manifests.js';
import { LOAD_BALANCER_CLASS } from '../kubeconfig/manifests.js';
import { AGENT_IMAGE, AGNHOST_IMAGE } from '../kubeconfig/names.js';
import { kindConfigYaml } from './config.js';
import { externalContainerName, kindClusterName, KIND_NETWORK } from './names.js';

export interface KindPlanOptions {
  lab: string;
  proxyMode: ProxyMode;
  nodeImage?: string | undefined;
  /** ConfigMap data for the agent; a placeholder by default (the real files are read at `up`). */
  agentFiles?: Record<string, string> | undefined;
  owner?: { host: string; pid: number; ephemeral: boolean } | undefined;
}

export interface KindLabPlan {
  clusterName: string;
  namespace: string;
  kindConfig: string;
  /** Namespace, ConfigMap, Pods and Services as one multi-document YAML, in creation order. */
  manifests: string;
  /** External hosts as containers on kind's network, with the routes they get. */
  externalHosts: {
    name: string;
    container: string;
    network: string;
    routes: { to: string; viaNode: string }[];
  }[];
  /** What `up` runs, as command lines (the API calls are shown as `kubectl apply` equivalents). */
  commands: string[];
}

/** Pure: what `svclab up --provider kind` would create for a topology (also its --dry-run output). */
export function planKindLab(topo: Topology, opts: KindPlanOptions): KindLabPlan {
  const clusterName = kindClusterName(opts.lab);
  const m = clusterManifests(topo, {
    provider: 'kind',
    lab: opts.lab,
    agentFiles: opts.agentFiles,
    owner: opts.owner ?? { host: hostname(), pid: process.pid, ephemeral: false },
  });
  const { namespace, objects: docs } = m;
  const kindConfig = kindConfigYaml(topo, {
    clusterName,
    proxyMode: opts.proxyMode,
    nodeImage: opts.nodeImage,
  });
  const nodeOfIP = new Map(topo.nodes.map((n) => [n.ip, n.name]));
  const externalHosts = topo.externalHosts.map((e) => ({
    name: e.name,
    container: externalContainerName(opts.lab, e.name),
    network: KIND_NETWORK,
    routes: e.routes.map((r) => ({ to: r.to, viaNode: nodeOfIP.get(r.via) ?? r.via })),
  }));
  const commands = [
    `kind create cluster --name ${clusterName} --config - --wait 300s   # config below`,
    `kind get kubeconfig --name ${clusterName} > $SVCLAB_RUN_DIR/${opts.lab}/kubeconfig`,
    `kind load docker-image --name ${clusterName} ${AGENT_IMAGE} ${AGNHOST_IMAGE}   # each one the local Docker has; the nodes pull the others`,
    `kubectl apply -f -   # ${docs.length} objects below, in namespace ${namespace}`,
    ...m.statusUpdates.map(
      (u) =>
        `# status.loadBalancer of Service ${u.name} := ${u.status.loadBalancer?.ingress?.map((i) => i.ip).join(', ') || 'none'} (status subresource; svclab is the load balancer of class ${LOAD_BALANCER_CLASS})`,
    ),
    ...externalHosts.map(
      (e) =>
        `docker run -d --name ${e.container} --network ${e.network} --cap-add NET_ADMIN ${AGENT_IMAGE} ...   # agent; routes ${e.routes.map((r) => `${r.to} via ${r.viaNode}`).join(', ') || 'none'}`,
    ),
    `# wait: pods Running (agnhost ${AGNHOST_IMAGE}), EndpointSlices match, kube-proxy /metrics on every node: the change received and synced`,
  ];
  return {
    clusterName,
    namespace,
    kindConfig,
    manifests: docs.map((d) => stringify(d, { lineWidth: 0, singleQuote: true })).join('---\n'),
    externalHosts,
    commands,
  };
}

/** The dry-run text: commands, then the kind config and the manifests. */
export function formatKindPlan(plan: KindLabPlan): string {
  return [
    ...plan.commands,
    '',
    `# kind config (${plan.clusterName})`,
    plan.kindConfig,
    '# manifests',
    plan.manifests,
  ].join('\n');
}
