import { execa } from 'execa';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostHasIpvs } from '../harness/requirements.js';
import { skipWhen } from '../harness/skip.js';
import { loadTopology } from '../model/index.js';
import { fidelityReportSchema } from '../report/fidelity.js';
import { CONSTANT, UNATTRIBUTED } from './attribute.js';
import type { FullFidelityReport } from './report.js';

/**
 * `svclab fidelity --mode ipvs` on three-node.yaml: the real kube-proxy in IPVS mode against
 * svclab's IPVS planner in node-a's twin namespace, compared on virtual servers and real servers,
 * ipsets, kube-ipvs0's addresses and the iptables rules. Zero undeclared differences, every
 * Service port of the topology compared with lines on both sides, nothing of the lab left behind.
 * IPVS needs IP_VS: on a host kernel without it npm test runs this file in the VM
 * (scripts/test.sh), whose kernel has it.
 */
const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'bin', 'svclab.js');
const skip =
  skipWhen('root', process.getuid?.() !== 0 && 'needs root') ??
  skipWhen(
    'ipvs-kernel',
    !hostHasIpvs() && 'the kernel has no IP_VS: npm test runs this file in the VM',
    { proxy: 'ipvs', mode: 'fidelity-ipvs' },
  );

describe.skipIf(skip)('svclab fidelity --mode ipvs', () => {
  it("finds no undeclared difference between kube-proxy's IPVS state and svclab's", async () => {
    const r = await execa(process.execPath, [cli, 'fidelity', '--mode', 'ipvs', '--json'], {
      reject: false,
      cwd: root,
    });
    const report = JSON.parse(r.stdout) as FullFidelityReport;
    const different = report.results.filter((x) => x.status === 'different');
    expect(different, JSON.stringify(different, null, 2)).toEqual([]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(fidelityReportSchema.parse(report).kubeVersion).toMatch(/^v1\.\d+\.\d+/);

    const topo = await loadTopology(join(root, 'topologies', 'three-node.yaml'));
    const expected = [
      CONSTANT,
      'default/kubernetes:https/TCP',
      ...topo.services.flatMap((s) =>
        s.ports.map((p) => `default/${s.name}:${p.name}/${p.protocol}`),
      ),
    ].sort();
    expect(report.results.map((x) => x.mode)).toEqual(report.results.map(() => 'ipvs'));
    expect(report.results.map((x) => x.servicePort).sort()).toEqual(expected);
    expect(report.results.some((x) => x.servicePort === UNATTRIBUTED)).toBe(false);
    // Not vacuous: every Service port has lines on both sides (a virtual server at least; equal
    // counts where identical).
    for (const x of report.results) {
      expect(x.lines!.kubeProxy, x.servicePort).toBeGreaterThan(0);
      expect(x.lines!.svclab, x.servicePort).toBeGreaterThan(0);
      if (x.status === 'identical') expect(x.lines!.svclab).toBe(x.lines!.kubeProxy);
    }

    // The lab and its twin namespace are gone.
    expect(report.modes).toHaveLength(1);
    const lab = report.modes[0]!.lab;
    expect(lab).toMatch(/^fid-ipv-/);
    expect(readdirSync('/run/netns').filter((n) => n.startsWith(`svclab.${lab}.`))).toEqual([]);
  }, 600_000);
});
