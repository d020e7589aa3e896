import { describe, expect, it } from 'vitest';
import { checkJumpTargets, tracePacket, undeclaredJumps, type Packet } from './tracer.js';

/** A ruleset from `table -> chain -> rules`, with the chains the tracer always enters. */
function ruleset(nat: Record<string, string[]>, filter: Record<string, string[]> = {}) {
  const base = ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL', 'KUBE-FIREWALL']; // prettier-ignore
  return {
    nat: new Map(Object.entries({ 'KUBE-MARK-MASQ': ['-j MARK --or-mark 0x4000'], ...nat })),
    filter: new Map([...base.map((c): [string, string[]] => [c, []]), ...Object.entries(filter)]),
  };
}

const TO_VIP: Packet = { src: '10.244.1.9', dst: '10.96.0.10', protocol: 'TCP', dport: 80 };
const OPTS = { localAddresses: ['172.18.0.2'] };
const VIP = '-d 10.96.0.10/32 -p tcp -m tcp --dport 80';

describe('tracePacket: chains that do not exist', () => {
  const cases: { name: string; rules: ReturnType<typeof ruleset>; bad: string[] }[] = [
    {
      name: 'a jump the traced packet takes',
      rules: ruleset({ 'KUBE-SERVICES': [`${VIP} -j KUBE-SVC-MISSING`] }),
      bad: ['nat/KUBE-SERVICES rule 1: -j KUBE-SVC-MISSING'],
    },
    {
      // iptables-restore checks every rule, not the ones a packet happens to reach.
      name: 'a jump no traced packet takes',
      rules: ruleset({
        'KUBE-SERVICES': [`${VIP} -j KUBE-EXT-A`],
        'KUBE-EXT-A': ['-s 192.0.2.0/24 -j KUBE-SVC-MISSING', '-j KUBE-MARK-MASQ'],
      }),
      bad: ['nat/KUBE-EXT-A rule 1: -j KUBE-SVC-MISSING'],
    },
    {
      name: 'a goto',
      rules: ruleset({ 'KUBE-SERVICES': [`${VIP} -g KUBE-SVL-MISSING`] }),
      bad: ['nat/KUBE-SERVICES rule 1: -g KUBE-SVL-MISSING'],
    },
    {
      // Chains are per table: a nat chain of that name does not make the filter jump valid.
      name: 'a chain of the other table',
      rules: ruleset(
        { 'KUBE-SVC-A': ['-j KUBE-MARK-MASQ'] },
        { 'KUBE-SERVICES': [`${VIP} -j KUBE-SVC-A`] },
      ),
      bad: ['filter/KUBE-SERVICES rule 1: -j KUBE-SVC-A'],
    },
  ];
  it.each(cases)('fails on $name, naming it', ({ rules, bad }) => {
    expect(undeclaredJumps(rules)).toEqual(bad);
    expect(() => checkJumpTargets(rules)).toThrow(bad[0]);
    expect(() => tracePacket(rules, TO_VIP, OPTS)).toThrow(/does not exist.*MISSING|KUBE-SVC-A/);
  });

  it('accepts jumps to declared chains, empty ones included, and target extensions', () => {
    const rules = ruleset({
      'KUBE-SERVICES': [`${VIP} -j KUBE-SVC-A`],
      'KUBE-SVC-A': ['-j KUBE-EMPTY', '-j KUBE-SEP-A'],
      'KUBE-EMPTY': [],
      'KUBE-SEP-A': ['-s 10.244.1.2/32 -j KUBE-MARK-MASQ', '-p tcp -m tcp -j DNAT --to-destination 10.244.1.2:8080'], // prettier-ignore
      'KUBE-POSTROUTING': ['-j MASQUERADE --random-fully'],
    });
    expect(undeclaredJumps(rules)).toEqual([]);
    expect(tracePacket(rules, TO_VIP, OPTS).map((o) => [o.dnat, o.natPath])).toEqual([
      ['10.244.1.2:8080', ['KUBE-SERVICES', 'KUBE-SVC-A', 'KUBE-EMPTY', 'KUBE-SEP-A']],
    ]);
  });
});

describe('tracePacket: goto', () => {
  it('falling off a chain entered by goto returns to the caller of the chain that went there', () => {
    const rules = ruleset({
      'KUBE-SERVICES': [`${VIP} -j KUBE-A`, '-j KUBE-MARK-MASQ'],
      // The goto skips KUBE-A's second rule; KUBE-B falls off, back to KUBE-SERVICES' rule 2.
      'KUBE-A': ['-g KUBE-B', '-j DROP'],
      'KUBE-B': [],
    });
    const [out, ...rest] = tracePacket(rules, TO_VIP, OPTS);
    expect(rest).toEqual([]);
    expect(out).toMatchObject({
      natPath: ['KUBE-SERVICES', 'KUBE-A', 'KUBE-B', 'KUBE-MARK-MASQ'],
      masquerade: true,
      verdict: 'ACCEPT',
    });
  });
});
