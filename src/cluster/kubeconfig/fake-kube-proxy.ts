/**
 * kube-proxy as the fake API server's node proxy shows it (unit tests only): the sync loop's
 * metrics as the real one moves them. A Service change bumps lastQueued and the pending count; a
 * sync takes the pending changes and then sets lastSynced. When a sync runs is up to the test:
 * `sync()` by hand, or on its own after `syncAfterReads` reads of /metrics (a stand-in for time
 * passing that needs no timer). A restart (its pod deleted) is a new process that syncs once.
 */
export interface FakeKubeProxyOptions {
  /** Reads of /metrics after which a queued change is synced; undefined = only by hand. */
  syncAfterReads?: number | undefined;
}

let clock = 0;
/** Strictly increasing seconds, like distinct kube-proxy timestamps. */
function now(): number {
  clock = Math.max(Date.now() / 1000, clock + 0.001);
  return clock;
}

export class FakeKubeProxy {
  startTime = now();
  lastQueued = 0;
  lastSynced = now();
  pending = 0;
  /** Completed syncs, for assertions. */
  syncs = 0;
  private readsSinceQueue = 0;

  constructor(private readonly opts: FakeKubeProxyOptions = {}) {}

  /** A Service or EndpointSlice change arrived. */
  queue(): void {
    this.lastQueued = now();
    this.pending += 1;
    this.readsSinceQueue = 0;
  }

  sync(): void {
    this.pending = 0;
    this.lastSynced = now();
    this.syncs += 1;
  }

  /** The pod was deleted and the DaemonSet started a new process: no memory, no sync yet. */
  restart(): void {
    this.startTime = now();
    this.lastQueued = 0;
    this.lastSynced = 0;
    this.pending = 1; // its initial full sync is pending until it runs
    this.readsSinceQueue = 0;
  }

  /** /metrics, in the Prometheus text format with kube-proxy's names (1.3x: per ip_family). */
  metrics(): string {
    this.readsSinceQueue += 1;
    if (
      this.pending > 0 &&
      this.opts.syncAfterReads !== undefined &&
      this.readsSinceQueue > this.opts.syncAfterReads
    )
      this.sync();
    return [
      '# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge',
      `kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} ${this.lastSynced}`,
      '# TYPE kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds gauge',
      `kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv4"} ${this.lastQueued}`,
      `kubeproxy_sync_proxy_rules_service_changes_pending ${this.pending}`,
      'kubeproxy_sync_proxy_rules_endpoint_changes_pending 0',
      `process_start_time_seconds ${this.startTime}`,
      '',
    ].join('\n');
  }
}
