import { describe, expect, test } from 'vitest';
import {
  broadcastAddress,
  cidrContains,
  cidrsOverlap,
  formatCIDR,
  formatIPv4,
  hasHostBits,
  nthAddress,
  parseCIDR,
  parseIPv4,
  subnetCount,
  subnetSlice,
} from './ipam.js';

const cidr = (text: string) => {
  const c = parseCIDR(text);
  if (!c) throw new Error(`bad test CIDR ${text}`);
  return c;
};

describe('parseIPv4 / formatIPv4', () => {
  test.each(['0.0.0.0', '10.244.0.2', '172.18.0.255', '255.255.255.255'])(
    'round-trips %s',
    (ip) => {
      expect(formatIPv4(parseIPv4(ip) ?? -1)).toBe(ip);
    },
  );
  test('uses unsigned values above 2^31', () => {
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIPv4('192.168.0.1')).toBe(0xc0a80001);
  });
  test.each([
    '256.0.0.1',
    '1.2.3',
    '1.2.3.4.5',
    '010.0.0.1',
    '1.2.3.-1',
    ' 1.2.3.4',
    'a.b.c.d',
    '',
  ])('rejects %j', (text) => expect(parseIPv4(text)).toBeUndefined());
});

describe('parseCIDR', () => {
  test('clears host bits and keeps the prefix', () => {
    expect(formatCIDR(cidr('10.244.7.9/16'))).toBe('10.244.0.0/16');
    expect(formatCIDR(cidr('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(formatCIDR(cidr('1.2.3.4/32'))).toBe('1.2.3.4/32');
  });
  test.each(['10.0.0.0', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '10.0.0/8'])(
    'rejects %j',
    (text) => {
      expect(parseCIDR(text)).toBeUndefined();
    },
  );
  test('hasHostBits', () => {
    expect(hasHostBits('172.18.0.1/24')).toBe(true);
    expect(hasHostBits('172.18.0.0/24')).toBe(false);
    expect(hasHostBits('172.18.0.1/32')).toBe(false);
  });
});

describe('contains and overlap', () => {
  test('cidrContains honours the prefix boundary', () => {
    const c = cidr('172.18.0.0/24');
    expect(cidrContains(c, parseIPv4('172.18.0.0') ?? 0)).toBe(true);
    expect(cidrContains(c, parseIPv4('172.18.0.255') ?? 0)).toBe(true);
    expect(cidrContains(c, parseIPv4('172.18.1.0') ?? 0)).toBe(false);
    expect(cidrContains(cidr('0.0.0.0/0'), 0xffffffff)).toBe(true);
  });
  test.each([
    ['10.0.0.0/8', '10.244.0.0/16', true],
    ['10.244.0.0/16', '10.96.0.0/16', false],
    ['172.16.0.0/12', '172.18.0.0/24', true],
    ['172.18.0.0/24', '172.18.1.0/24', false],
    ['192.168.0.0/31', '192.168.0.1/32', true],
  ] as const)('%s overlaps %s: %s', (a, b, want) => {
    expect(cidrsOverlap(cidr(a), cidr(b))).toBe(want);
    expect(cidrsOverlap(cidr(b), cidr(a))).toBe(want);
  });
});

describe('host addresses', () => {
  test('nthAddress stays inside the subnet', () => {
    const c = cidr('10.96.0.0/16');
    expect(formatIPv4(nthAddress(c, 10) ?? 0)).toBe('10.96.0.10');
    expect(formatIPv4(nthAddress(c, 256) ?? 0)).toBe('10.96.1.0');
    expect(nthAddress(c, 65536)).toBeUndefined();
    expect(nthAddress(c, -1)).toBeUndefined();
  });
  test('broadcastAddress', () => {
    expect(formatIPv4(broadcastAddress(cidr('172.18.0.0/29')))).toBe('172.18.0.7');
  });
});

describe('per-node pod CIDRs', () => {
  test('slices the pod subnet in order', () => {
    const pods = cidr('10.244.0.0/16');
    expect([0, 1, 2, 255].map((i) => formatCIDR(subnetSlice(pods, 24, i) ?? pods))).toEqual([
      '10.244.0.0/24',
      '10.244.1.0/24',
      '10.244.2.0/24',
      '10.244.255.0/24',
    ]);
    expect(subnetSlice(pods, 24, 256)).toBeUndefined();
    expect(formatCIDR(subnetSlice(pods, 25, 1) ?? pods)).toBe('10.244.0.128/25');
  });
  test('subnetCount', () => {
    expect(subnetCount(cidr('10.244.0.0/16'), 24)).toBe(256);
    expect(subnetCount(cidr('10.244.0.0/16'), 16)).toBe(1);
    expect(subnetCount(cidr('10.244.0.0/16'), 12)).toBe(0);
  });
});
