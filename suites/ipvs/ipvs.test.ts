import { describe, expect, it } from 'vitest';
import { useLab } from '../../src/harness/lab-fixture.js';
import type { ServiceSpec } from '../../src/model/types.js';
import { serviceWithDefaults } from '../../src/model/service.js';
import { scaledDeadline } from '../../src/exec/index.js';

// IPVS-specific behaviour, read back from the kernel of a node (the other suites already show
// that traffic behaves the same as in the other modes). Runs only with --proxy ipvs.
const f = useLab('three-node.yaml');
const skip = f.skipFor(
  'mode',
  f.config.proxy !== 'ipvs' && 'IPVS-specific suite (run with --proxy ipvs)',
);

/** Lines of `iptables-save` that are rules (not chain declarations, comments or COMMITs). */
const ruleCount = async (node: string) =>
  (await f.lab.exec(node, ['iptables-save'])).stdout.split('\n').filter((l) => l.startsWith('-A '))
    .length;

describe.skipIf(skip)(`ipvs (${f.config.label})`, () => {
  it('kube-ipvs0 holds every ClusterIP, external IP and LoadBalancer IP, on every node', async () => {
    // With a control plane the proxy programs every Service the API has, the `kubernetes`
    // Service included (kube-proxy does not know which Services the topology declared).
    const vips = f.lab.controlPlane
      ? (await f.lab.controlPlane.api().list('/api/v1/services')).items.flatMap((o) => {
          const spec = o['spec'] as { clusterIP?: string; externalIPs?: string[] };
          const status = o['status'] as { loadBalancer?: { ingress?: { ip?: string }[] } };
          return [
            ...(spec.clusterIP && spec.clusterIP !== 'None' ? [spec.clusterIP] : []),
            ...(spec.externalIPs ?? []),
            ...(status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : [])),
          ];
        })
      : f.topology.services.flatMap((s) => [s.clusterIP, ...s.externalIPs, ...s.loadBalancerIPs]);
    for (const node of ['node-a', 'node-b', 'node-c']) {
      const addrs = (
        await f.lab.exec(node, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'kube-ipvs0'])
      ).stdout;
      const bound = [...addrs.matchAll(/inet (\S+)\/32/g)].map((m) => m[1]);
      expect(new Set(bound)).toEqual(new Set(vips));
    }
  });

  it('ClientIP affinity is IPVS persistence with the Service timeout', async () => {
    const s = f.lab.service('web-affinity').spec;
    const list = (await f.lab.exec('node-a', ['ipvsadm', '-Ln', '-t', `${s.clusterIP}:80`])).stdout;
    expect(list).toMatch(
      new RegExp(
        `${s.clusterIP.replace(/\./g, '\\.')}:80 rr persistent ${s.sessionAffinityTimeoutSeconds}`,
      ),
    );
  });

  it('hairpin goes through KUBE-LOOP-BACK: the set names the endpoint, and the pod reaching itself is masqueraded', async () => {
    const web = f.lab.target('web-b');
    const members = (await f.lab.exec('node-b', ['ipset', 'list', 'KUBE-LOOP-BACK'])).stdout;
    expect(members).toContain(`${web.ip},tcp:8080,${web.ip}`);
    const obs = await f.lab.probe('web-b', f.lab.service('solo').clusterIP('http'), { count: 3 });
    await f.expect.answeredBy(obs, ['web-b']);
    await f.expect.sourceNatted(obs, { clientIP: web.ip, to: [f.ip('node-b')] });
  });

  it(
    'the number of iptables rules does not grow from 10 to 1,000 Services (ipsets carry them)',
    async () => {
      const before = await ruleCount('node-a');
      const extra: ServiceSpec[] = Array.from(
        { length: 1000 - f.topology.services.length },
        (_, i) =>
          serviceWithDefaults({
            name: `bulk-${i}`,
            clusterIP: `10.96.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`,
            selector: { app: 'web' },
            ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
          }),
      );
      await f.lab.update((t) => {
        t.services.push(...extra);
      });
      const vs = (await f.lab.exec('node-a', ['ipvsadm', '-Ln'])).stdout
        .split('\n')
        .filter((l) => /^(TCP|UDP) /.test(l)).length;
      expect(vs).toBeGreaterThanOrEqual(1000);
      expect(await ruleCount('node-a')).toBe(before);
      // Traffic still works through one of the new Services.
      const obs = await f.lab.probe(
        'client-a',
        f.lab.service(`bulk-${extra.length - 1}`).clusterIP('http'),
        {
          count: 3,
        },
      );
      await f.expect.allAnswered(obs);
    },
    scaledDeadline(300_000),
  );
});
