import { describe, expect, it } from 'vitest';
import { base32, endpointChain, servicePortChainSuffix, servicePortChains } from './hash.js';

describe('kube-proxy chain name hashes', () => {
  // Chain names seen on every real cluster: they pin the hash input format and the alphabet.
  it.each([
    ['kube-system/kube-dns:dns', 'UDP', 'TCOU7JCQXEZGVUNU'],
    ['kube-system/kube-dns:dns-tcp', 'TCP', 'ERIFXISQEP7F7OF4'],
    ['kube-system/kube-dns:metrics', 'TCP', 'JD5MR3NA4I4DYORP'],
    ['default/kubernetes:https', 'TCP', 'NPX46M4PTMTKRN6Y'],
  ])('%s/%s -> %s', (name, proto, want) => {
    expect(servicePortChainSuffix(name, proto)).toBe(want);
    expect(servicePortChains(name, proto).cluster).toBe(`KUBE-SVC-${want}`);
  });

  it('encodes base32 like Go StdEncoding (RFC 4648 vectors, without padding)', () => {
    const enc = (s: string) => base32(new TextEncoder().encode(s));
    expect(enc('f')).toBe('MY');
    expect(enc('fooba')).toBe('MZXW6YTB');
    expect(enc('foobar')).toBe('MZXW6YTBOI');
  });

  it('gives each endpoint of a Service port its own KUBE-SEP chain', () => {
    const a = endpointChain('ns/svc:http', 'TCP', '10.244.1.2', 8080);
    const b = endpointChain('ns/svc:http', 'TCP', '10.244.1.3', 8080);
    expect(a).toMatch(/^KUBE-SEP-[A-Z2-7]{16}$/);
    expect(a).not.toBe(b);
  });
});
