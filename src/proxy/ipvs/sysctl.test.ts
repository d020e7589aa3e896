import { describe, expect, it } from 'vitest';
import { connReuseDecision, ipvsSysctls, parseKernelRelease } from './sysctl.js';

describe('ipvsSysctls', () => {
  it('decides conn_reuse_mode by kernel version as kube-proxy does', () => {
    expect(connReuseDecision(parseKernelRelease('3.10.0-1160.el7.x86_64'))).toBe('unsupported');
    expect(connReuseDecision(parseKernelRelease('4.1.0'))).toBe('set-0');
    expect(connReuseDecision(parseKernelRelease('5.4.0-150-generic'))).toBe('set-0');
    expect(connReuseDecision(parseKernelRelease('5.9.0'))).toBe('leave');
    expect(connReuseDecision(parseKernelRelease('6.1.0-56-amd64\n'))).toBe('leave');
  });

  it('always sets conntrack, expire_nodest_conn, expire_quiescent_template; ARP sysctls only with strictARP', () => {
    const old = ipvsSysctls('5.4.0');
    expect(old.settings).toEqual([
      'net.ipv4.vs.conntrack=1',
      'net.ipv4.vs.conn_reuse_mode=0',
      'net.ipv4.vs.expire_nodest_conn=1',
      'net.ipv4.vs.expire_quiescent_template=1',
      'net.ipv4.ip_forward=1',
    ]);
    expect(old.notes.join()).toContain('kubernetes#81775');
    const strict = ipvsSysctls('6.1.0', { strictARP: true });
    expect(strict.settings).not.toContain('net.ipv4.vs.conn_reuse_mode=0');
    expect(strict.settings).toContain('net.ipv4.conf.all.arp_ignore=1');
    expect(strict.settings).toContain('net.ipv4.conf.all.arp_announce=2');
  });

  it('rejects an unparsable release', () => {
    expect(() => parseKernelRelease('unknown')).toThrow(/cannot parse/);
  });
});
