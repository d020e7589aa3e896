import type { Command } from 'commander';
import { kubeInventory } from '../../kube/inventory.js';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { aptLine, TOOL_PACKAGES, which } from '../../cluster/preflight.js';
import { hostKernelFeatures, type KernelFeature } from '../../vm/index.js';
import { printJson, table } from '../format.js';
import { packageRoot } from '../package-root.js';

/** What each proxy mode needs from the kernel and from userspace. */
const MODE_NEEDS: Record<string, { features: KernelFeature[]; tools: string[] }> = {
  iptables: {
    features: ['xtRecent', 'xtStatistic'],
    tools: ['ip', 'iptables-restore', 'conntrack'],
  },
  nftables: { features: ['nftables'], tools: ['ip', 'nft', 'conntrack'] },
  ipvs: {
    features: ['ipvs', 'dummy', 'ipset'],
    tools: ['ip', 'ipvsadm', 'ipset', 'iptables-restore'],
  },
};

export function register(program: Command): void {
  program
    .command('doctor')
    .description(
      'list the kernel features and tools this host has, which proxy modes and suites they allow, and what the VM adds',
    )
    .option('--json', 'machine-readable output')
    .action(async (o) => {
      const features = await hostKernelFeatures();
      const tools = Object.fromEntries(
        Object.keys(TOOL_PACKAGES).map((t) => [t, which(t) ?? null]),
      );
      const qemu = Boolean(which('qemu-system-x86_64'));
      const root = process.getuid?.() === 0;
      const modes = Object.entries(MODE_NEEDS).map(([mode, need]) => {
        const missingFeatures = need.features.filter((f) => !features[f].available);
        const missingTools = need.tools.filter((t) => !tools[t]);
        const where =
          missingTools.length > 0
            ? 'unavailable'
            : missingFeatures.length === 0
              ? 'host'
              : qemu
                ? 'vm'
                : 'unavailable';
        return { mode, where, missingFeatures, missingTools };
      });
      const missingTools = Object.entries(tools)
        .filter(([, p]) => !p)
        .map(([t]) => t);
      // An installed package ships no suites (they run from a checkout).
      const suitesDir = join(packageRoot(), 'suites');
      const suites = existsSync(suitesDir)
        ? readdirSync(suitesDir, { withFileTypes: true })
            .filter((d) => d.isDirectory())
            .map((d) => d.name)
        : [];
      const report = {
        root,
        features,
        tools,
        modes,
        suites,
        vm: {
          qemu,
          kvm: existsSync('/dev/kvm'),
          adds: ['ipvs', 'dummy', 'netem', 'conntrackNetlink'].filter(
            (f) => !features[f as KernelFeature].available,
          ),
        },
        install: missingTools.length > 0 ? aptLine(missingTools) : undefined,
        kubernetes: kubeInventory(),
      };
      if (o.json) return printJson(report);
      const out = [
        `running as root: ${root ? 'yes' : 'NO (labs need root)'}`,
        '',
        table(
          ['KERNEL FEATURE', 'HOST', 'EVIDENCE'],
          Object.entries(features).map(([f, s]) => [f, s.available ? 'yes' : 'no', s.evidence]),
        ),
        '',
        table(
          ['TOOL', 'PATH', 'PACKAGE'],
          Object.entries(tools).map(([t, p]) => [t, p ?? 'missing', TOOL_PACKAGES[t]]),
        ),
        '',
        table(
          ['PROXY MODE', 'RUNS', 'WHY'],
          modes.map((m) => [
            m.mode,
            m.where === 'host'
              ? 'on this host'
              : m.where === 'vm'
                ? 'in the VM (svclab vm / SVCLAB_VM=auto)'
                : 'no',
            [
              ...m.missingFeatures.map((f) => `kernel lacks ${f}`),
              ...m.missingTools.map((t) => `missing ${t}`),
            ].join(', ') || 'all present',
          ]),
        ),
        '',
        `suites (${suites.join(', ')}) run in every mode listed as runnable above.`,
        `VM: qemu ${qemu ? 'present' : 'missing'}, /dev/kvm ${report.vm.kvm ? 'present' : 'absent'}; the VM kernel adds: ${report.vm.adds.join(', ') || 'nothing this host lacks'}.`,
      ];
      const k = report.kubernetes;
      out.push(
        '',
        table(
          ['KUBERNETES', 'BUILT HERE', 'MISSING'],
          k.versions.map((v) => [
            `${v.version}${v.version === k.default ? ' (default)' : ''}`,
            v.components.join(', ') || '-',
            v.missing.join(', ') || '-',
          ]),
        ),
        `(cache ${k.cache}${k.userBinDir ? `; SVCLAB_KUBE_BIN_DIR=${k.userBinDir} is used instead` : ''}) to get another: ${k.howToGet}`,
      );
      if (report.install) out.push('', `to install what is missing: ${report.install}`);
      process.stdout.write(out.join('\n') + '\n');
    });
}
