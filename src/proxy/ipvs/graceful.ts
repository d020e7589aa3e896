import type { Protocol } from '../../model/types.js';

/**
 * Graceful termination of IPVS real servers (kube-proxy's graceful_termination.go): a real
 * server that leaves a Service is not deleted while it still has connections, because deleting
 * it with net.ipv4.vs.expire_nodest_conn=1 drops them. It is set to weight 0 (no new
 * connections) and deleted on a later check once ActiveConn + InActConn reach 0. UDP has no
 * connections to drain, so UDP real servers are deleted at once. Pure: the caller reads the
 * counts (`ipvsadm -Ln`) and runs the lines.
 */

export interface ConnCounts {
  activeConn: number;
  inactiveConn: number;
}

export type RemovalDecision = 'delete' | 'quiesce';

/**
 * What to do with a real server that is no longer wanted. `counts` undefined means the real
 * server is not in the kernel (nothing to drain): delete. kube-proxy tries the delete first and
 * only quiesces when connections remain.
 */
export function decideRemoval(protocol: Protocol, counts: ConnCounts | undefined): RemovalDecision {
  if (protocol === 'UDP' || counts === undefined) return 'delete';
  return counts.activeConn + counts.inactiveConn === 0 ? 'delete' : 'quiesce';
}

export type GracefulOutcome = 'delete' | 'keep' | 'gone';

/**
 * A check of one quiesced real server: `gone` when it is no longer in the kernel (its virtual
 * server was deleted, or someone else removed it), `delete` once drained, else `keep`.
 */
export function checkGraceful(counts: ConnCounts | undefined): GracefulOutcome {
  if (counts === undefined) return 'gone';
  return counts.activeConn + counts.inactiveConn === 0 ? 'delete' : 'keep';
}
