import { join } from 'node:path';
import type { Topology } from '../../model/types.js';
import type { ExternalHosts } from '../kubeconfig/cluster-up.js';
import { AGENT_IMAGE, LAB_LABEL } from '../kubeconfig/names.js';
import { labDir } from '../state.js';
import { packageRoot } from '../../cli/package-root.js';
import { dockerExec } from './docker.js';
import { externalContainerName, KIND_NETWORK } from './names.js';

const HOST_SOCKET_DIR = '/run/svclab-host';

/** The socket where an external host's agent listens, as seen from this machine (bind-mounted). */
export function externalSocket(lab: string, ext: string): string {
  return join(labDir(lab), 'agents', `${ext}.sock`);
}

/**
 * External hosts on kind are containers on kind's Docker network, beside the node containers:
 * NodePorts and node IPs are reached as from another machine on the node network. Each runs the
 * svclab agent (the checkout's dist/ bind-mounted read-only) with its control socket in a
 * bind-mounted lab folder, and gets the topology's routes (external IPs and LoadBalancer IPs via a
 * node), for which it needs NET_ADMIN inside its own network namespace only.
 */
export function kindExternalHosts(
  lab: string,
  nodeIPs: () => Promise<Record<string, string>>,
  ephemeral: boolean,
): ExternalHosts {
  const ips: Record<string, string> = {};
  return {
    start: async (topo: Topology) => {
      // Ryuk (testcontainers' reaper) removes containers when this process exits: right for test
      // labs, wrong for `svclab up` labs that outlive it. This is read when the first container starts.
      if (!ephemeral) process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
      const observed = await nodeIPs();
      const plannedToNode = new Map(topo.nodes.map((n) => [n.ip, n.name]));
      // Loaded here: testcontainers is heavy, and most svclab commands never start a container.
      const { GenericContainer, Wait } = await import('testcontainers');
      const root = packageRoot();
      for (const e of topo.externalHosts) {
        const routes = e.routes.map(
          (r) => `ip route add ${r.to} via ${observed[plannedToNode.get(r.via) ?? ''] ?? r.via}`,
        );
        const agent = [
          'node',
          '/svclab/dist/traffic/agent.js',
          '--lab',
          lab,
          '--name',
          e.name,
          '--hostname',
          e.name,
          '--control',
          `${HOST_SOCKET_DIR}/${e.name}.sock`,
        ];
        const c = await new GenericContainer(AGENT_IMAGE)
          .withName(externalContainerName(lab, e.name))
          .withNetworkMode(KIND_NETWORK)
          .withLabels({ [LAB_LABEL]: lab, 'svclab.dev/role': 'external-host' })
          .withAddedCapabilities('NET_ADMIN')
          .withBindMounts([
            { source: join(root, 'dist'), target: '/svclab/dist', mode: 'ro' },
            { source: join(root, 'package.json'), target: '/svclab/package.json', mode: 'ro' },
            { source: join(labDir(lab), 'agents'), target: HOST_SOCKET_DIR, mode: 'rw' },
          ])
          .withCommand(['sh', '-c', [...routes, `exec ${agent.join(' ')}`].join(' && ')])
          .withWaitStrategy(Wait.forLogMessage(/^ready/m))
          .start();
        ips[e.name] = c.getIpAddress(KIND_NETWORK);
      }
      return ips;
    },
    location: (ext) => ({
      kind: 'socket',
      path: externalSocket(lab, ext),
      exec: dockerExec(externalContainerName(lab, ext)),
      ip: ips[ext] ?? '',
    }),
  };
}
