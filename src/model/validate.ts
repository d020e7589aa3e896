/**
 * Checks that relate fields to each other (the schema has already checked each field alone):
 * unique names, references, the address plan, Services. Everything found is reported; nothing
 * stops at the first problem.
 */
import { listNames, quote } from './echo.js';
import { DEFAULT_NAMESPACE, DEFAULT_PROTOCOL } from './defaults.js';
import { formatPath, type IssueList, type Path } from './issues.js';
import type { AddressPlan } from './networking.js';
import type { TopologyInput } from './schema.js';
import { validateNetworking } from './validate-network.js';
import { validateServices } from './validate-services.js';

export function validateTopology(doc: TopologyInput, plan: AddressPlan, out: IssueList): void {
  validateNames(doc, out);
  validateReferences(doc, out);
  validateNetworking(doc, plan, out);
  validatePodPorts(doc, out);
  validateServices(doc, plan, out);
}

/**
 * Nodes, pods and external hosts share one name space: each becomes a network namespace (and
 * a hostname) named after it, so a pod may not share a node's name either.
 */
function validateNames(doc: TopologyInput, out: IssueList): void {
  const owners = new Map<string, Path>();
  const claim = (path: Path, name: string) => {
    const owner = owners.get(name);
    if (!owner) {
      owners.set(name, path.slice(0, 3));
      return;
    }
    const crossKind = owner[1] !== path[1];
    out.error(
      path,
      `Duplicate value: ${quote(name)}: already used by ${formatPath(owner)}` +
        (crossKind ? ' (nodes, pods and external hosts share one name space)' : ''),
    );
  };
  doc.spec.nodes.forEach((n, i) => claim(['spec', 'nodes', i, 'name'], n.name));
  doc.spec.pods?.forEach((p, i) => claim(['spec', 'pods', i, 'name'], p.name));
  doc.spec.externalHosts?.forEach((h, i) => claim(['spec', 'externalHosts', i, 'name'], h.name));

  const services = new Map<string, number>();
  doc.spec.services?.forEach((s, i) => {
    const key = `${s.metadata.namespace ?? DEFAULT_NAMESPACE}/${s.metadata.name}`;
    const first = services.get(key);
    if (first === undefined) services.set(key, i);
    else
      out.error(
        ['spec', 'services', i, 'metadata', 'name'],
        `Duplicate value: ${quote(key)}: already used by spec.services[${first}]`,
      );
  });
}

function validateReferences(doc: TopologyInput, out: IssueList): void {
  const nodes = doc.spec.nodes.map((n) => n.name);
  const known = new Set(nodes);
  const check = (path: Path, name: string | undefined) => {
    if (name !== undefined && !known.has(name)) {
      out.error(path, `Not found: ${quote(name)}: no such node (nodes: ${listNames(nodes)})`);
    }
  };
  doc.spec.pods?.forEach((p, i) => check(['spec', 'pods', i, 'node'], p.node));
  doc.spec.externalHosts?.forEach((h, i) =>
    check(['spec', 'externalHosts', i, 'routeVia'], h.routeVia),
  );
}

/**
 * Container ports are unique per pod by name and by (port, protocol). hostNetwork pods share
 * the node's ports, so two of them on one node cannot listen on the same port.
 */
function validatePodPorts(doc: TopologyInput, out: IssueList): void {
  const hostPorts = new Map<string, number>();
  doc.spec.pods?.forEach((pod, i) => {
    const names = new Map<string, number>();
    const ports = new Map<string, number>();
    pod.ports?.forEach((port, j) => {
      const path: Path = ['spec', 'pods', i, 'ports', j];
      const key = `${port.containerPort}/${port.protocol ?? DEFAULT_PROTOCOL}`;
      if (port.name !== undefined) {
        const first = names.get(port.name);
        if (first === undefined) names.set(port.name, j);
        else
          out.error(
            [...path, 'name'],
            `Duplicate value: ${quote(port.name)}: already used by ports[${first}]`,
          );
      }
      const first = ports.get(key);
      if (first !== undefined) {
        out.error(
          [...path, 'containerPort'],
          `Duplicate value: ${key}: already used by ports[${first}]`,
        );
        return;
      }
      ports.set(key, j);
      if (!pod.hostNetwork) return;
      const nodeKey = `${pod.node}|${key}`;
      const other = hostPorts.get(nodeKey);
      if (other === undefined) hostPorts.set(nodeKey, i);
      else {
        out.error(
          [...path, 'containerPort'],
          `Duplicate value: ${key}: spec.pods[${other}] already listens on it in node ${pod.node}'s network namespace (both pods use hostNetwork)`,
        );
      }
    });
  });
}
