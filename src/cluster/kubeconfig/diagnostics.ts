import type { KubeApi } from './api.js';
import { stringify } from 'yaml';
import { AGENT_CONTAINER, AGNHOST_CONTAINER } from './names.js';

/**
 * What can be read about a lab without privileges: its Services, EndpointSlices, events, pods
 * (with conditions) and container logs. Section name -> text; a section that fails says why.
 */
export async function clusterDiagnostics(
  api: KubeApi,
  namespace: string,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const section = async (name: string, collect: () => Promise<string>) => {
    try {
      out[name] = await collect();
    } catch (err) {
      out[name] = `failed to collect: ${err instanceof Error ? err.message : String(err)}`;
    }
  };
  await section('services', async () =>
    stringify((await api.core.listNamespacedService({ namespace })).items),
  );
  await section('endpointslices', async () =>
    stringify((await api.discovery.listNamespacedEndpointSlice({ namespace })).items),
  );
  await section('pods', async () =>
    stringify(
      (await api.core.listNamespacedPod({ namespace })).items.map((p) => ({
        name: p.metadata?.name,
        node: p.spec?.nodeName,
        podIP: p.status?.podIP,
        phase: p.status?.phase,
        conditions: p.status?.conditions,
        containers: p.status?.containerStatuses,
      })),
    ),
  );
  await section('events', async () =>
    (await api.core.listNamespacedEvent({ namespace })).items
      .map(
        (e) =>
          `${e.lastTimestamp?.toISOString?.() ?? e.eventTime ?? ''} ${e.type} ${e.reason} ${e.involvedObject.kind}/${e.involvedObject.name}: ${e.message}`,
      )
      .join('\n'),
  );
  const pods = await api.core.listNamespacedPod({ namespace }).catch(() => undefined);
  for (const p of pods?.items ?? []) {
    const name = p.metadata?.name ?? '';
    for (const c of p.spec?.containers ?? []) {
      if (c.name !== AGNHOST_CONTAINER && c.name !== AGENT_CONTAINER) continue;
      await section(`logs-${name}-${c.name}`, () =>
        api.core.readNamespacedPodLog({ name, namespace, container: c.name, tailLines: 2000 }),
      );
    }
  }
  return out;
}

/** Dataplane state commands for a node, by proxy mode (run where the node's tools are). */
export function ruleDumpCommands(mode: string): Record<string, string[]> {
  const common: Record<string, string[]> = {
    conntrack: ['conntrack', '-L'],
    'ip-addr': ['ip', 'addr', 'show'],
    'ip-route': ['ip', 'route', 'show', 'table', 'all'],
  };
  if (mode === 'ipvs')
    return {
      ipvs: ['ipvsadm', '-Ln'],
      ipset: ['ipset', 'list'],
      'iptables-save': ['iptables-save'],
      ...common,
    };
  if (mode === 'nftables') return { 'nft-ruleset': ['nft', 'list', 'ruleset'], ...common };
  return { 'iptables-save': ['iptables-save'], ...common };
}
