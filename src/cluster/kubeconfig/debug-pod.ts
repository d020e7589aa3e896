import type { V1Pod } from '@kubernetes/client-node';
import type { KubeApi } from './api.js';
import type { RunIn } from './backend.js';
import { DEBUG_IMAGE, LAB_LABEL } from './names.js';
import { apiStatus } from './namespace.js';
import { waitFor } from './wait.js';

export function debugPodName(node: string): string {
  return `svclab-debug-${node}`.slice(0, 63).replace(/-+$/, '');
}

/**
 * A privileged pod in the node's network and PID namespaces with the dataplane tools
 * (iptables-save, ipvsadm, nft, conntrack). Only created when the user allows it
 * (--privileged-debug): it can read and change every rule on the node. Lives in the lab's
 * namespace, so it goes with the lab. Its iptables binary may use a different backend (nft vs
 * legacy) than the node's kube-proxy; compare with `iptables-legacy-save` when rules look empty.
 */
export function debugPodManifest(lab: string, namespace: string, node: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: debugPodName(node),
      namespace,
      labels: { [LAB_LABEL]: lab, 'svclab.dev/role': 'debug' },
    },
    spec: {
      nodeName: node,
      hostNetwork: true,
      hostPID: true,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      tolerations: [{ operator: 'Exists' }],
      containers: [
        {
          name: 'debug',
          image: DEBUG_IMAGE,
          command: ['sleep', 'infinity'],
          securityContext: { privileged: true },
        },
      ],
    },
  };
}

/** Command runner on a node through its debug pod, created on first use. */
export function debugPodExec(api: KubeApi, namespace: string, node: string): RunIn {
  let ready: Promise<void> | undefined;
  const ensure = () =>
    (ready ??= (async () => {
      const body = debugPodManifest(namespace.replace(/^svclab-/, ''), namespace, node);
      const lab = (await api.core.readNamespace({ name: namespace })).metadata?.labels?.[LAB_LABEL];
      if (lab) body.metadata!.labels![LAB_LABEL] = lab;
      await api.core.createNamespacedPod({ namespace, body }).catch((err: unknown) => {
        if (apiStatus(err) !== 409) throw err;
      });
      await waitFor(
        `debug pod on ${node}`,
        async () => {
          const p = await api.core.readNamespacedPod({ name: body.metadata!.name!, namespace });
          return p.status?.phase === 'Running' ? undefined : `phase ${p.status?.phase}`;
        },
        { timeoutMs: 120_000 },
      );
    })());
  return async (file, args, opts) => {
    await ensure();
    return api.exec(namespace, debugPodName(node), 'debug', [file, ...args], opts);
  };
}
