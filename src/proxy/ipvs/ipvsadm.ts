import type { Protocol } from '../../model/types.js';

/** An IPVS virtual server: one per Service IP (or node IP for NodePorts), port and protocol. */
export interface VirtualServer {
  protocol: Protocol;
  address: string;
  port: number;
  scheduler: string;
  /** Persistence timeout in seconds (ClientIP affinity), or undefined for none. */
  persistence?: number | undefined;
  realServers: RealServer[];
}

/** An IPVS destination, always masquerading (`-m`), as kube-proxy programs them. */
export interface RealServer {
  address: string;
  port: number;
  weight: number;
}

/** What `ipvsadm -Ln` reports per real server: the counts graceful termination waits on. */
export interface RealServerStatus extends RealServer {
  forward: string;
  activeConn: number;
  inactiveConn: number;
}

export interface VirtualServerStatus extends Omit<VirtualServer, 'realServers'> {
  realServers: RealServerStatus[];
}

/** `TCP/10.96.0.10:80`: identifies a virtual server. */
export function vsKey(vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>): string {
  return `${vs.protocol}/${vs.address}:${vs.port}`;
}

/** `TCP/10.96.0.10:80/10.244.1.2:8080`: identifies a real server of a virtual server (kube-proxy's GetUniqueRSName). */
export function rsKey(
  vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>,
  rs: Pick<RealServer, 'address' | 'port'>,
): string {
  return `${vsKey(vs)}/${rs.address}:${rs.port}`;
}

const service = (vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>) =>
  `${vs.protocol === 'UDP' ? '-u' : '-t'} ${vs.address}:${vs.port}`;

/** `-A|-E -t VIP:port -s rr [-p T]`: add or edit a virtual server. */
export function vsLine(op: '-A' | '-E', vs: Omit<VirtualServer, 'realServers'>): string {
  const persistence = vs.persistence !== undefined ? ` -p ${vs.persistence}` : '';
  return `${op} ${service(vs)} -s ${vs.scheduler}${persistence}`;
}

export function vsDeleteLine(vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>): string {
  return `-D ${service(vs)}`;
}

/** `-a|-e -t VIP:port -r RIP:port -m -w W`: add or edit a real server (NAT, i.e. masquerading). */
export function rsLine(
  op: '-a' | '-e',
  vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>,
  rs: RealServer,
): string {
  return `${op} ${service(vs)} -r ${rs.address}:${rs.port} -m -w ${rs.weight}`;
}

export function rsDeleteLine(
  vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>,
  rs: Pick<RealServer, 'address' | 'port'>,
): string {
  return `-d ${service(vs)} -r ${rs.address}:${rs.port}`;
}

const VS_RE = /^(TCP|UDP)\s+(\d+\.\d+\.\d+\.\d+):(\d+)\s+(\S+)(?:\s+persistent\s+(\d+))?/;
const RS_RE = /^\s+->\s+(\d+\.\d+\.\d+\.\d+):(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)/;

/**
 * Parses `ipvsadm -Ln` (numeric) output:
 * ```
 * TCP  10.96.0.10:80 rr persistent 10800
 *   -> 10.244.1.2:8080              Masq    1      0          0
 * ```
 */
export function parseIpvsadmList(text: string): VirtualServerStatus[] {
  const out: VirtualServerStatus[] = [];
  let current: VirtualServerStatus | undefined;
  for (const line of text.split('\n')) {
    const vs = VS_RE.exec(line);
    if (vs) {
      current = {
        protocol: vs[1] as Protocol,
        address: vs[2]!,
        port: Number(vs[3]),
        scheduler: vs[4]!,
        persistence: vs[5] !== undefined ? Number(vs[5]) : undefined,
        realServers: [],
      };
      out.push(current);
      continue;
    }
    const rs = RS_RE.exec(line);
    if (rs && current) {
      current.realServers.push({
        address: rs[1]!,
        port: Number(rs[2]),
        forward: rs[3]!,
        weight: Number(rs[4]),
        activeConn: Number(rs[5]),
        inactiveConn: Number(rs[6]),
      });
    }
  }
  return out;
}
