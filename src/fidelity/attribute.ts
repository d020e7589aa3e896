import { servicePortInfo } from '../proxy/service-port.js';
import type { ProxyState, ServicePortState } from '../proxy/types.js';
import type { RulesetLine } from './lines.js';

/** Lines of no Service port: the chains and rules every node has, whatever its Services. */
export const CONSTANT = '(constant chains)';
/**
 * Lines that look like a Service port's (a per-Service chain, a dispatch element) but belong to
 * none of the state's: stale objects, or a Service the state does not have (svclab's fence
 * would land here if a proxy ever programmed it).
 */
export const UNATTRIBUTED = '(no Service port of the state)';

/** `namespace/name:port/protocol`, the report's name of a Service port. */
export function servicePortKey(sp: Pick<ServicePortState, 'name' | 'port'>): string {
  return `${sp.name}/${sp.port.protocol}`;
}

/** What identifies a Service port's lines, from the state both proxies programmed. */
export interface ServicePortIndex {
  keys: string[];
  /** kube-proxy's ServicePortName string (`ns/name:port`) → key. */
  byName: Map<string, string>;
  /** nftables chain-name base `ns/name/proto/port` → key. */
  byNftBase: Map<string, string>;
  /** `ip . proto . port` of a ClusterIP, external or load-balancer IP → keys. */
  byAddress: Map<string, string[]>;
  /** `proto . nodePort` → keys. */
  byNodePort: Map<string, string[]>;
  /** ClusterIP → keys of the Service's ports. */
  byClusterIP: Map<string, string[]>;
  /** `ip . proto . port` of an endpoint → keys of the ports it serves. */
  byEndpoint: Map<string, string[]>;
  /** Every Service IP (ClusterIP, external and load-balancer IPs) → keys of the Service's ports. */
  byServiceIP: Map<string, string[]>;
  /** A Service's healthCheckNodePort → keys of its ports. */
  byHealthCheckNodePort: Map<string, string[]>;
}

export function indexServicePorts(state: ProxyState): ServicePortIndex {
  const idx: ServicePortIndex = {
    keys: [],
    byName: new Map(),
    byNftBase: new Map(),
    byAddress: new Map(),
    byNodePort: new Map(),
    byClusterIP: new Map(),
    byEndpoint: new Map(),
    byServiceIP: new Map(),
    byHealthCheckNodePort: new Map(),
  };
  const add = (m: Map<string, string[]>, k: string, key: string) => {
    const list = m.get(k) ?? [];
    if (!list.includes(key)) list.push(key);
    m.set(k, list);
  };
  for (const sp of state.servicePorts) {
    const svc = sp.service;
    if (!svc.clusterIP || svc.clusterIP === 'None') continue;
    const key = servicePortKey(sp);
    const proto = sp.port.protocol.toLowerCase();
    idx.keys.push(key);
    idx.byName.set(sp.name, key);
    idx.byNftBase.set(`${svc.namespace}/${svc.name}/${proto}/${sp.port.name}`, key);
    for (const ip of [svc.clusterIP, ...svc.externalIPs, ...svc.loadBalancerIPs])
      add(idx.byAddress, `${ip} . ${proto} . ${sp.port.port}`, key);
    if (sp.port.nodePort) add(idx.byNodePort, `${proto} . ${sp.port.nodePort}`, key);
    add(idx.byClusterIP, svc.clusterIP, key);
    for (const ep of sp.endpoints) add(idx.byEndpoint, `${ep.ip} . ${proto} . ${ep.port}`, key);
    for (const ip of [svc.clusterIP, ...svc.externalIPs, ...svc.loadBalancerIPs])
      add(idx.byServiceIP, ip, key);
    const hc = servicePortInfo(sp).healthCheckNodePort;
    if (hc !== 0) add(idx.byHealthCheckNodePort, String(hc), key);
  }
  return idx;
}

/**
 * The lines of each owner (a Service port key, CONSTANT or UNATTRIBUTED), in the ruleset's order.
 * A line may belong to several ports (an nftables element two ports share). A node-wide rule in
 * a chain that also holds Service ports' rules gets its position among them appended (see
 * positionOf).
 */
export function groupByOwner(
  lines: readonly RulesetLine[],
  idx: ServicePortIndex,
  mode: 'iptables' | 'nftables' | 'ipvs',
): Map<string, string[]> {
  const owners =
    mode === 'iptables'
      ? iptablesOwners(lines, idx)
      : mode === 'nftables'
        ? nftOwners(lines, idx)
        : ipvsOwners(lines, idx);
  const positions = positionOf(lines, owners);
  const out = new Map<string, string[]>();
  lines.forEach((line, i) => {
    const pos = positions.get(i);
    for (const owner of owners[i]!) {
      const list = out.get(owner) ?? [];
      list.push(pos ? `${line.text} ${pos}` : line.text);
      out.set(owner, list);
    }
  });
  return out;
}

/**
 * Where a node-wide rule stands among the Service ports' rules of its chain, which it must keep
 * (the NodePort dispatch must be the last rule of KUBE-SERVICES), while the Service ports' order
 * among themselves is not meaningful there (kube-proxy walks a Go map, so it changes from one
 * sync to the next).
 */
function positionOf(
  lines: readonly RulesetLine[],
  owners: readonly string[][],
): Map<number, string> {
  const out = new Map<number, string>();
  const byChain = new Map<string, number[]>();
  lines.forEach((l, i) => {
    if (l.kind !== 'rule') return;
    const id = `${l.table} ${l.object}`;
    byChain.set(id, [...(byChain.get(id) ?? []), i]);
  });
  for (const rules of byChain.values()) {
    const isService = rules.map((i) => !owners[i]!.includes(CONSTANT));
    if (!isService.some(Boolean)) continue;
    rules.forEach((line, k) => {
      if (isService[k]) return;
      const before = isService.slice(0, k).some(Boolean);
      const after = isService.slice(k + 1).some(Boolean);
      out.set(
        line,
        before && after
          ? '[between Service-port rules]'
          : before
            ? '[after every Service-port rule]'
            : '[before every Service-port rule]',
      );
    });
  }
  return out;
}

// --- iptables ---------------------------------------------------------------------------------

const SERVICE_CHAIN = /^KUBE-(SVC|SVL|EXT|FW|SEP)-/;

/** The Service port a kube-proxy comment names (`ns/name:port`, possibly inside a sentence). */
function ownerOfComment(comment: string | undefined, idx: ServicePortIndex): string | undefined {
  if (!comment) return undefined;
  for (const word of comment.split(' ')) {
    const key = idx.byName.get(word);
    if (key) return key;
  }
  return undefined;
}

function iptablesOwners(lines: readonly RulesetLine[], idx: ServicePortIndex): string[][] {
  // A per-Service chain belongs to the port its rules' comments name, or to the port whose rules
  // jump to it (the EXT chain's last rule has no comment; in large clusters no SEP rule has one).
  const chainOwner = new Map<string, string>();
  const ruleOwner = (l: RulesetLine) =>
    ownerOfComment(l.comment, idx) ??
    (SERVICE_CHAIN.test(l.object) ? chainOwner.get(`${l.table} ${l.object}`) : undefined);
  for (const l of lines) {
    if (l.kind !== 'rule' || !SERVICE_CHAIN.test(l.object)) continue;
    const owner = ownerOfComment(l.comment, idx);
    const id = `${l.table} ${l.object}`;
    if (owner && !chainOwner.has(id)) chainOwner.set(id, owner);
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const l of lines) {
      if (l.kind !== 'rule' || !l.target || !SERVICE_CHAIN.test(l.target)) continue;
      const owner = ruleOwner(l);
      const id = `${l.table} ${l.target}`;
      if (owner && !chainOwner.has(id)) {
        chainOwner.set(id, owner);
        changed = true;
      }
    }
  }
  return lines.map((l) => {
    if (l.kind === 'chain')
      return [
        SERVICE_CHAIN.test(l.object)
          ? (chainOwner.get(`${l.table} ${l.object}`) ?? UNATTRIBUTED)
          : CONSTANT,
      ];
    const owner = ruleOwner(l);
    if (owner) return [owner];
    return [SERVICE_CHAIN.test(l.object) ? UNATTRIBUTED : CONSTANT];
  });
}

// --- nftables ---------------------------------------------------------------------------------

const NFT_SERVICE_OBJECT =
  /^(?:service|local|external|endpoint|firewall|affinity)-[A-Z2-7]{8}-([^/]+\/[^/]+\/[^/]+\/[^_/]*)(?:__.*)?$/;

function nftOwnerOfName(name: string, idx: ServicePortIndex): string | undefined {
  const m = NFT_SERVICE_OBJECT.exec(name);
  if (!m) return undefined;
  return idx.byNftBase.get(m[1]!) ?? UNATTRIBUTED;
}

function nftOwners(lines: readonly RulesetLine[], idx: ServicePortIndex): string[][] {
  return lines.map((l) => {
    const own = nftOwnerOfName(l.object, idx);
    if (own) return [own];
    if (l.kind !== 'element') return [CONSTANT];
    const key = l.key ?? '';
    let found: string[] | undefined;
    switch (l.object) {
      case 'service-ips':
      case 'no-endpoint-services':
      case 'firewall-ips':
        found = idx.byAddress.get(key);
        break;
      case 'service-nodeports':
      case 'no-endpoint-nodeports':
      case 'localhost-nodeport-reject-ports':
        found = idx.byNodePort.get(key);
        break;
      case 'cluster-ips':
        found = idx.byClusterIP.get(key);
        break;
      case 'hairpin-connections': {
        // `ip . ip . proto . port`: the endpoint reaching itself.
        const [ip, , proto, port] = key.split(' . ');
        found = idx.byEndpoint.get(`${ip} . ${proto} . ${port}`);
        break;
      }
      default:
        return [CONSTANT];
    }
    return found && found.length > 0 ? found : [UNATTRIBUTED];
  });
}

// --- IPVS -------------------------------------------------------------------------------------

/** `10.96.0.10,tcp:53` (hash:ip,port members, and the first two parts of hash:ip,port,ip|net). */
function ipPortKey(member: string): string | undefined {
  const m = /^([^,]+),(tcp|udp|sctp):(\d+)/.exec(member);
  return m ? `${m[1]} . ${m[2]} . ${m[3]}` : undefined;
}

/** The node ports (bitmap:port) sets of each protocol. */
const NODE_PORT_SETS: Record<string, string> = {
  'KUBE-NODE-PORT-TCP': 'tcp',
  'KUBE-NODE-PORT-LOCAL-TCP': 'tcp',
  'KUBE-NODE-PORT-UDP': 'udp',
  'KUBE-NODE-PORT-LOCAL-UDP': 'udp',
  'KUBE-NODE-PORT-SCTP-HASH': 'sctp',
  'KUBE-NODE-PORT-LOCAL-SCTP-HASH': 'sctp',
};

/**
 * IPVS mode's lines (src/fidelity/ipvs-save.ts) and its iptables rules: a virtual server and its
 * real servers belong to the Service port whose address:port (ClusterIP, external or
 * load-balancer IP) or NodePort it is; an ipset member to the ports whose address:port, node
 * port, endpoint (KUBE-LOOP-BACK: the endpoint reaching itself), health check node port or
 * Service IP (KUBE-IPVS-IPS) it holds; a kube-ipvs0 address to the ports of the Service whose IP it
 * is. The iptables rules are node-wide (they match sets), except the KUBE-IPVS-OUT-FILTER drop
 * of a firewalled load-balancer IP:port. Set create lines, the device's state and the timeouts
 * are node-wide too.
 */
function ipvsOwners(lines: readonly RulesetLine[], idx: ServicePortIndex): string[][] {
  const found = (keys: string[] | undefined) => (keys && keys.length > 0 ? keys : [UNATTRIBUTED]);
  return lines.map((l) => {
    if (l.table === 'ipvs') {
      if (!l.key) return [CONSTANT];
      // `TCP 10.96.0.10:53`
      const m = /^(\S+) (.+):(\d+)$/.exec(l.key);
      if (!m) return [UNATTRIBUTED];
      const proto = m[1]!.toLowerCase();
      const byAddr = idx.byAddress.get(`${m[2]} . ${proto} . ${m[3]}`);
      return found(byAddr ?? idx.byNodePort.get(`${proto} . ${m[3]}`));
    }
    if (l.table === 'ipset') {
      if (l.kind !== 'element' || !l.key) return [CONSTANT];
      const set = l.object;
      if (set === 'KUBE-LOOP-BACK') {
        // `10.244.1.2,tcp:8080,10.244.1.2`
        return found(idx.byEndpoint.get(ipPortKey(l.key) ?? ''));
      }
      if (set === 'KUBE-IPVS-IPS') return found(idx.byServiceIP.get(l.key));
      if (set === 'KUBE-HEALTH-CHECK-NODE-PORT') return found(idx.byHealthCheckNodePort.get(l.key));
      const nodePortProto = NODE_PORT_SETS[set];
      if (nodePortProto) {
        const port = /(\d+)$/.exec(l.key)?.[1];
        return found(idx.byNodePort.get(`${nodePortProto} . ${port}`));
      }
      return found(idx.byAddress.get(ipPortKey(l.key) ?? ''));
    }
    if (l.table === 'kube-ipvs0')
      return l.kind === 'element' && l.key ? found(idx.byServiceIP.get(l.key)) : [CONSTANT];
    // iptables: `-A KUBE-IPVS-OUT-FILTER -s IP -m ipvs --vaddr IP --vproto tcp --vport 80 -j DROP`.
    // iptables-save prints the ipvs match's options in its own order (`--vproto 6 --vaddr IP
    // --vport 80` with the nft backend) and the protocol by number: each is read on its own.
    // Unattributed, these rules would be compared in the order kube-proxy writes them, which is
    // its Go map's (lbNoNodeAccessIPPortProtocolEntries is filled walking svcPortMap).
    if (l.kind === 'rule' && l.object === 'KUBE-IPVS-OUT-FILTER') {
      const vaddr = /--vaddr (\S+?)(?:\/32)?(?:\s|$)/.exec(l.text)?.[1];
      const vproto = /--vproto (\S+)/.exec(l.text)?.[1];
      const vport = /--vport (\d+)/.exec(l.text)?.[1];
      const proto =
        ({ '6': 'tcp', '17': 'udp', '132': 'sctp' } as Record<string, string>)[vproto ?? ''] ??
        vproto?.toLowerCase();
      if (vaddr && proto && vport)
        return found(idx.byAddress.get(`${vaddr} . ${proto} . ${vport}`));
    }
    return [CONSTANT];
  });
}
