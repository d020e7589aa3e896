import { describe, expect, it } from 'vitest';
import type { Lab, LabCapability } from '../cluster/lab.js';
import { EVENT_IDS, eventSkipReason, EVENTS, selectEvents } from './events.js';
import { KNOWN_BUGS } from './known-bugs.js';
import { natTarget } from './lab-state.js';
import { matrixModeOf, modeConfig, parseModes } from './modes.js';

describe('event catalogue', () => {
  it('runs destructive events last, so one lab serves a whole mode', () => {
    const events = selectEvents();
    const first = events.findIndex((e) => e.destructive);
    expect(first).toBeGreaterThan(0);
    expect(events.slice(first).every((e) => e.destructive)).toBe(true);
  });

  it('selects in catalogue order and names the valid ids on a typo', () => {
    expect(selectEvents(['proxy-restart', 'scale-out']).map((e) => e.id)).toEqual([
      'scale-out',
      'proxy-restart',
    ]);
    expect(() => selectEvents(['scale-up'])).toThrow(/unknown event scale-up \(valid: .*scale-out/);
  });

  it('covers every update issue 6 names', () => {
    for (const id of [
      'scale-out',
      'scale-in',
      'endpoint-removed',
      'pod-deleted',
      'endpoint-terminating',
      'affinity-timeout',
      'affinity-on',
      'affinity-off',
      'type-nodeport',
      'full-resync',
      'proxy-restart',
    ]) {
      expect(EVENT_IDS).toContain(id);
    }
  });

  it('proxy-restart declares what it needs: a lab that cannot restart its proxies skips it with the reason', () => {
    const restart = EVENTS.find((e) => e.id === 'proxy-restart')!;
    expect(restart.requires).toBe('proxy-restart');
    const lab = (why?: string) =>
      ({ cannot: (c: LabCapability) => (c === 'proxy-restart' ? why : undefined) }) as Lab;
    expect(eventSkipReason(lab('not allowed here'), restart)).toBe('not allowed here');
    expect(eventSkipReason(lab(), restart)).toBeUndefined();
    // Events that need nothing special run everywhere.
    const scaleIn = EVENTS.find((e) => e.id === 'scale-in')!;
    expect(eventSkipReason(lab('not allowed here'), scaleIn)).toBeUndefined();
  });

  it('known bugs cite their kubernetes issues; IPVS ones are IPVS only', () => {
    for (const b of KNOWN_BUGS) expect(b.issues.length).toBeGreaterThan(0);
    expect(
      KNOWN_BUGS.filter((b) => b.id.startsWith('ipvs-')).every((b) => b.modes?.join() === 'ipvs'),
    ).toBe(true);
  });
});

describe('modes', () => {
  it('parses a list, rejecting unknown names', () => {
    expect(parseModes('nftables, iptables-full,nftables')).toEqual(['nftables', 'iptables-full']);
    expect(() => parseModes('iptables')).toThrow(/unknown mode iptables/);
  });

  it('maps to proxy settings and back', () => {
    expect(modeConfig('iptables-full')).toMatchObject({
      proxy: 'iptables',
      proxyOptions: { syncStrategy: 'full' },
    });
    expect(matrixModeOf('iptables', { syncStrategy: 'partial' })).toBe('iptables-partial');
    expect(matrixModeOf('none', {})).toBeUndefined();
  });
});

describe('natTarget', () => {
  it('reads the endpoint from the reply direction of a DNAT entry', () => {
    const e =
      'udp      17 29 src=10.244.0.3 dst=10.96.0.10 sport=40000 dport=81 src=10.244.1.2 dst=10.244.0.3 sport=8081 dport=40000 mark=0 use=1';
    expect(natTarget(e)).toBe('10.244.1.2');
  });
});
