import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../cli/errors.js';
import { packageRoot } from '../../cli/package-root.js';
import { loadTopology } from '../../model/index.js';
import { kindTakenAddresses } from '../kind/provider.js';
import {
  checkPinnedClusterIPs,
  clusterDnsAddresses,
  clusterMasqueradeAddresses,
  kubeadmDnsIP,
} from './cluster-addresses.js';
import { startFakeApiServer } from './fake-apiserver.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

const topo = () => loadTopology(join(packageRoot(), 'topologies', 'three-node.yaml'));

describe('clusterIPs a cluster already holds', () => {
  it("kube-dns holds the service range's 10th address on kind and kubeadm", () => {
    expect(kubeadmDnsIP('10.96.0.0/16')).toBe('10.96.0.10');
    expect(kubeadmDnsIP('10.200.0.0/24')).toBe('10.200.0.10');
  });

  it('a pinned clusterIP on kube-dns is refused before anything is created, naming the field', async () => {
    const t = await topo();
    // svclab's own first allocation is 10.96.0.10 too, but it is never asked for.
    expect(() => checkPinnedClusterIPs(t, kindTakenAddresses(t))).not.toThrow();
    t.services[0]!.clusterIPAllocated = false;
    let err: unknown;
    try {
      checkPinnedClusterIPs(t, kindTakenAddresses(t));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(
      /^services\[default\/web\]\.spec\.clusterIP: 10\.96\.0\.10 belongs to kube-dns/,
    );
  });

  it("an existing cluster's kube-dns is read from kube-system", async () => {
    const f = await startFakeApiServer();
    close = f.close;
    expect(await clusterDnsAddresses(f.api)).toEqual([
      { ip: '10.96.0.10', owner: 'Service kube-system/kube-dns' },
    ]);
    f.cluster.services.delete('kube-system/kube-dns');
    expect(await clusterDnsAddresses(f.api)).toEqual([]);
  });
});

describe('masquerade sources on a cluster', () => {
  it("the node IP, or the node's pod-network address (kindnet's /32 on each host-side veth)", () => {
    expect(clusterMasqueradeAddresses({ ip: '172.18.0.3', podCIDR: '10.244.1.0/24' })).toEqual([
      '172.18.0.3',
      '10.244.1.1',
    ]);
    expect(clusterMasqueradeAddresses({ ip: '172.18.0.3', podCIDR: '' })).toEqual(['172.18.0.3']);
  });
});
