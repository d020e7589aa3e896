/**
 * Warnings about what the endpoints controller will make of a Service: no selector, a selector
 * that picks no pod, a named targetPort no selected pod declares. A lab can still start; the
 * Service just has no endpoints (which is sometimes the point of a test).
 */
import { quote } from './echo.js';
import { DEFAULT_PROTOCOL } from './defaults.js';
import type { IssueList, Path } from './issues.js';
import type { PodInput, TopologyInput } from './schema.js';

export function validateEndpointsSelection(doc: TopologyInput, out: IssueList): void {
  const pods = doc.spec.pods ?? [];
  doc.spec.services?.forEach((svc, i) => {
    const at: Path = ['spec', 'services', i, 'spec'];
    const selector = svc.spec.selector ?? {};
    if (Object.keys(selector).length === 0) {
      out.warning(
        [...at, 'selector'],
        'no selector: the Service gets no endpoints (svclab creates endpoints from selectors only)',
      );
      return;
    }
    const selected = pods.filter((p) => selects(selector, p.labels ?? {}));
    if (selected.length === 0) {
      out.warning([...at, 'selector'], 'selects no pod: the Service has no endpoints');
      return;
    }
    svc.spec.ports.forEach((port, j) => {
      if (typeof port.targetPort !== 'string') return;
      const protocol = port.protocol ?? DEFAULT_PROTOCOL;
      // The endpoints controller resolves a named port per pod, by name and protocol (FindPort).
      if (!selected.some((p) => declaresPort(p, port.targetPort as string, protocol))) {
        out.warning(
          [...at, 'ports', j, 'targetPort'],
          `no selected pod declares a ${protocol} port named ${quote(port.targetPort as string)}: this port has no endpoints`,
        );
      }
    });
  });
}

/** Equality-based selector, as Service selectors are. */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function declaresPort(pod: PodInput, name: string, protocol: string): boolean {
  return (pod.ports ?? []).some(
    (p) => p.name === name && (p.protocol ?? DEFAULT_PROTOCOL) === protocol,
  );
}
