import { describe, expect, it } from 'vitest';
import { endpoint, service, servicePorts, tcpPort } from '../proxy/nftables/fixtures.js';
import { CONSTANT, UNATTRIBUTED, groupByOwner, indexServicePorts } from './attribute.js';
import type { DeclaredDifference } from './declared.js';
import { compareRulesets, firstDifference, MAX_DIFFERENCE_LINES } from './diff.js';
import { normaliseIptablesSave } from './iptables-save.js';
import { normaliseNftTable } from './nft-list.js';

const web = service({
  name: 'web',
  type: 'NodePort',
  clusterIP: '10.96.0.10',
  ports: [tcpPort(80, { name: 'http', nodePort: 30080 })],
});
const api = service({
  name: 'api',
  clusterIP: '10.96.0.20',
  ports: [tcpPort(80, { name: 'http' })],
});
const state = {
  servicePorts: [
    ...servicePorts(web, [endpoint('10.244.1.2', 'node-a')]),
    ...servicePorts(api, [endpoint('10.244.1.2', 'node-a')]),
  ],
};
const index = indexServicePorts(state);

/** A kube-proxy-like nat table: two Services, the NodePort dispatch last. */
const natRules = {
  web: [
    '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEB',
  ],
  api: [
    '-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "default/api:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-API',
  ],
  tail: '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
  own: [
    '-A KUBE-EXT-WEB -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ',
    '-A KUBE-EXT-WEB -j KUBE-SVC-WEB',
    '-A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j KUBE-EXT-WEB',
    '-A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.1.2:8080" -j KUBE-SEP-WEB',
    '-A KUBE-SEP-WEB -s 10.244.1.2/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ',
    '-A KUBE-SEP-WEB -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.2:8080',
    '-A KUBE-SVC-API -m comment --comment "default/api:http -> 10.244.1.2:8080" -j KUBE-SEP-API',
    '-A KUBE-SEP-API -p tcp -m comment --comment "default/api:http" -m tcp -j DNAT --to-destination 10.244.1.2:8080',
  ],
};
const CHAINS = [
  'KUBE-SERVICES',
  'KUBE-NODEPORTS',
  'KUBE-EXT-WEB',
  'KUBE-SVC-WEB',
  'KUBE-SEP-WEB',
  'KUBE-SVC-API',
  'KUBE-SEP-API',
];

function save(opts: { services?: string[]; own?: string[]; extraChains?: string[] } = {}) {
  const services = opts.services ?? [...natRules.web, ...natRules.api, natRules.tail];
  return [
    '*nat',
    ...[...CHAINS, ...(opts.extraChains ?? [])].map((c) => `:${c} - [0:0]`),
    ...services,
    ...(opts.own ?? natRules.own),
    'COMMIT',
    '',
  ].join('\n');
}

const compare = (kubeProxy: string, svclab: string, declarations: DeclaredDifference[] = []) =>
  compareRulesets({
    mode: 'iptables',
    index,
    kubeProxy: [normaliseIptablesSave(kubeProxy)],
    svclab: [normaliseIptablesSave(svclab)],
    declarations,
  });
const statusOf = (rows: ReturnType<typeof compare>) =>
  Object.fromEntries(rows.map((r) => [r.servicePort, r.status]));

describe('attribution of iptables lines to Service ports', () => {
  it("uses comments, and follows jumps into a Service's chains (the EXT chain's last rule has none)", () => {
    const groups = groupByOwner(normaliseIptablesSave(save()).lines, index, 'iptables');
    expect(groups.get('default/web:http/TCP')).toContain('nat -A KUBE-EXT-WEB -j KUBE-SVC-WEB');
    expect(groups.get('default/web:http/TCP')).toContain('nat :KUBE-SEP-WEB');
    expect(groups.get('default/api:http/TCP')).toContain('nat :KUBE-SVC-API');
    expect(groups.get(CONSTANT)).toEqual([
      'nat :KUBE-NODEPORTS',
      'nat :KUBE-SERVICES',
      `nat ${natRules.tail} [after every Service-port rule]`,
    ]);
  });
});

describe('compareRulesets', () => {
  it('the same rules are identical, whatever order the Service ports come in (kube-proxy walks a Go map)', () => {
    const swapped = save({ services: [...natRules.api, ...natRules.web, natRules.tail] });
    expect(statusOf(compare(save(), swapped))).toEqual({
      [CONSTANT]: 'identical',
      'default/web:http/TCP': 'identical',
      'default/api:http/TCP': 'identical',
    });
  });

  it('a differing rule is reported for its Service port only, with the first differing lines', () => {
    const svclab = save({
      own: natRules.own.map((r) =>
        r.startsWith('-A KUBE-SEP-API -p tcp') ? r.replace(':8080', ':8081') : r,
      ),
    });
    const rows = compare(save(), svclab);
    expect(statusOf(rows)).toEqual({
      [CONSTANT]: 'identical',
      'default/web:http/TCP': 'identical',
      'default/api:http/TCP': 'different',
    });
    expect(rows.find((r) => r.servicePort === 'default/api:http/TCP')!.firstDifference).toEqual([
      '- nat -A KUBE-SEP-API -p tcp -m comment --comment "default/api:http" -m tcp -j DNAT --to-destination 10.244.1.2:8080',
      '+ nat -A KUBE-SEP-API -p tcp -m comment --comment "default/api:http" -m tcp -j DNAT --to-destination 10.244.1.2:8081',
    ]);
  });

  it('the NodePort dispatch must stay after the Service rules of its chain', () => {
    const first = save({ services: [natRules.tail, ...natRules.web, ...natRules.api] });
    const rows = compare(save(), first);
    expect(statusOf(rows)[CONSTANT]).toBe('different');
    expect(rows[0]!.firstDifference).toEqual([
      `- nat ${natRules.tail} [after every Service-port rule]`,
      `+ nat ${natRules.tail} [before every Service-port rule]`,
    ]);
  });

  it("a missing jump to a Service's chain shows in that Service port", () => {
    const own = natRules.own.filter((r) => r !== '-A KUBE-EXT-WEB -j KUBE-SVC-WEB');
    const rows = compare(save(), save({ own }));
    expect(statusOf(rows)['default/web:http/TCP']).toBe('different');
    expect(rows.find((r) => r.servicePort === 'default/web:http/TCP')!.firstDifference).toEqual([
      '- nat -A KUBE-EXT-WEB -j KUBE-SVC-WEB',
      '+ (none)',
    ]);
  });

  it('lines of no Service port in the state (a stale chain) get a row of their own', () => {
    const rows = compare(save(), save({ extraChains: ['KUBE-SVC-STALE'] }));
    expect(statusOf(rows)).toMatchObject({ [UNATTRIBUTED]: 'different' });
    expect(rows.find((r) => r.servicePort === UNATTRIBUTED)!.firstDifference).toEqual([
      '- (none)',
      '+ nat :KUBE-SVC-STALE',
    ]);
  });

  it('a difference a declaration covers is declared; anything beside it is still different', () => {
    const canary: DeclaredDifference = {
      id: 'canary',
      mode: 'iptables',
      side: 'kube-proxy',
      what: 'canary',
      why: 'test',
      since: 'v0',
      line: /^nat :KUBE-PROXY-CANARY$/,
      example: 'nat :KUBE-PROXY-CANARY',
    };
    const withCanary = save({ extraChains: ['KUBE-PROXY-CANARY'] });
    const declared = compare(withCanary, save(), [canary]);
    expect(declared[0]).toMatchObject({ status: 'declared', declared: [canary] });
    expect(declared[0]!.firstDifference).toEqual(['- nat :KUBE-PROXY-CANARY', '+ (none)']);
    // The declaration is for kube-proxy's side: the same line on svclab's side alone is not covered.
    expect(compare(save(), withCanary, [canary])[0]!.status).toBe('different');
    // Covered lines are set aside; the rest must still agree.
    const alsoMissing = save({ services: [...natRules.web, ...natRules.api] });
    expect(compare(withCanary, alsoMissing, [canary])[0]!.status).toBe('different');
  });
});

describe('attribution of nftables lines', () => {
  const NFT = `table ip kube-proxy {
	set hairpin-connections {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service
		elements = { 10.244.1.2 . 10.244.1.2 . tcp . 8080 }
	}
	set cluster-ips {
		type ipv4_addr
		elements = { 10.96.0.10, 10.96.0.20 }
	}
	map service-nodeports {
		type inet_proto . inet_service : verdict
		elements = { tcp . 30080 : goto external-AAAAAAAA-default/web/tcp/http }
	}
	chain external-AAAAAAAA-default/web/tcp/http {
		goto service-BBBBBBBB-default/web/tcp/http
	}
	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
	}
}
`;
  const groups = groupByOwner(normaliseNftTable(NFT).lines, index, 'nftables');

  it('by chain and set names, and by the keys of the dispatch sets and maps', () => {
    expect(groups.get('default/web:http/TCP')).toEqual([
      'set cluster-ips element 10.96.0.10',
      // An endpoint both Service ports use: the element belongs to both.
      'set hairpin-connections element 10.244.1.2 . 10.244.1.2 . tcp . 8080',
      'map service-nodeports element tcp . 30080 : goto external-AAAAAAAA-default/web/tcp/http',
      'chain external-AAAAAAAA-default/web/tcp/http',
      'chain external-AAAAAAAA-default/web/tcp/http: goto service-BBBBBBBB-default/web/tcp/http',
    ]);
    expect(groups.get('default/api:http/TCP')).toEqual([
      'set cluster-ips element 10.96.0.20',
      'set hairpin-connections element 10.244.1.2 . 10.244.1.2 . tcp . 8080',
    ]);
    expect(groups.get(CONSTANT)).toContain(
      'chain services: ip daddr . meta l4proto . th dport vmap @service-ips',
    );
  });

  it('a per-Service object of a Service the state does not have is unattributed', () => {
    const stale = groupByOwner(
      normaliseNftTable(NFT.replace(/default\/web\/tcp\/http/g, 'default/gone/tcp/http')).lines,
      index,
      'nftables',
    );
    expect(stale.get(UNATTRIBUTED)).toContain('chain external-AAAAAAAA-default/gone/tcp/http');
  });
});

describe('firstDifference', () => {
  it('is the first hunk: from the first disagreement to where the sides agree again', () => {
    expect(firstDifference(['a', 'b', 'c', 'd', 'x'], ['a', 'B', 'c', 'd', 'y'])).toEqual([
      '- b',
      '+ B',
    ]);
    expect(firstDifference(['a', 'b'], ['a', 'new', 'b'])).toEqual(['- (none)', '+ new']);
  });

  it('is cut to a readable size', () => {
    const many = Array.from({ length: 40 }, (_, i) => `line ${i}`);
    const out = firstDifference(many, []);
    expect(out.length).toBeLessThanOrEqual(MAX_DIFFERENCE_LINES + 1);
    expect(out.at(-1)).toBe(`(${40 + 1 - MAX_DIFFERENCE_LINES} more differing lines)`);
  });
});
