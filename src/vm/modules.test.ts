import { describe, expect, it } from 'vitest';
import {
  labModules,
  moduleClosure,
  moduleName,
  parseModulesBuiltin,
  parseModulesDep,
  stripModuleSignature,
} from './modules.js';

const dep = parseModulesDep(
  [
    'kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko kernel/lib/libcrc32c.ko',
    'kernel/net/netfilter/nf_conntrack.ko: kernel/lib/libcrc32c.ko',
    'kernel/lib/libcrc32c.ko:',
    'kernel/crypto/crc32c_generic.ko:',
    'kernel/drivers/net/dummy.ko:',
    'kernel/net/9p/9pnet-virtio.ko: kernel/net/9p/9pnet.ko',
    '',
  ].join('\n'),
);

describe('module names', () => {
  it('strips the directory and extension and uses underscores', () => {
    expect(moduleName('kernel/net/9p/9pnet-virtio.ko')).toBe('9pnet_virtio');
    expect(moduleName('kernel/drivers/net/dummy.ko.xz')).toBe('dummy');
    expect(moduleName('kernel/net/netfilter/xt_MASQUERADE.ko.zst')).toBe('xt_MASQUERADE');
  });
});

describe('moduleClosure', () => {
  it('includes dependencies once, sorted', () => {
    expect(moduleClosure(['ip_vs', 'nf_conntrack'], dep)).toEqual({
      files: [
        'kernel/lib/libcrc32c.ko',
        'kernel/net/netfilter/ipvs/ip_vs.ko',
        'kernel/net/netfilter/nf_conntrack.ko',
      ],
      missing: [],
    });
  });

  it('accepts dashed names and reports unknown modules, but not builtins', () => {
    const r = moduleClosure(
      ['9pnet-virtio', 'sch_netem', 'veth'],
      dep,
      parseModulesBuiltin('kernel/drivers/net/veth.ko\n'),
    );
    expect(r.files).toEqual(['kernel/net/9p/9pnet-virtio.ko', 'kernel/net/9p/9pnet.ko']);
    expect(r.missing).toEqual(['sch_netem']);
  });
});

describe('labModules', () => {
  it('loads a crc32c implementation before anything that pulls in libcrc32c', () => {
    // busybox modprobe ignores `softdep libcrc32c pre: crc32c`; without this order
    // nf_conntrack (and so ip_vs) fails with "Unknown symbol".
    const first = labModules.indexOf('crc32c_generic');
    for (const m of [
      'nf_conntrack',
      'ip_vs',
      'nf_nat',
      'xt_MASQUERADE',
      'nft_chain_nat',
    ] as const) {
      expect(labModules.indexOf(m)).toBeGreaterThan(first);
    }
  });

  it('covers what each proxy mode programs', () => {
    for (const m of [
      'ip_vs_rr',
      'ip_set_hash_ipportip',
      'dummy',
      'xt_statistic',
      'xt_recent',
      'nft_numgen',
      'nft_fib_ipv4',
      'sch_netem',
      'nf_conntrack_netlink',
    ]) {
      expect(labModules).toContain(m);
    }
  });
});

describe('stripModuleSignature', () => {
  const body = Buffer.from('\x7fELF module body');
  const sig = Buffer.alloc(7, 0xab);
  const info = Buffer.alloc(12);
  info.writeUInt32BE(sig.length, 8);
  const signed = Buffer.concat([body, sig, info, Buffer.from('~Module signature appended~\n')]);

  it('removes signature, descriptor and marker', () => {
    expect(stripModuleSignature(signed)).toEqual(body);
  });

  it('leaves an unsigned module alone', () => {
    expect(stripModuleSignature(body)).toBe(body);
  });
});
