import type { Command } from 'commander';
import { getProvider, providerOfLab } from '../../cluster/providers.js';
import type { DownReport } from '../../cluster/provider.js';
import { listLabDirs } from '../../cluster/state.js';
import { UsageError } from '../errors.js';
import { printJson } from '../format.js';
import { dockerAnswers, sweepVmsIfAny } from '../sweep.js';

/**
 * Every lab on this machine, through its own provider, then whatever crashed runs left without
 * a readable state: netns namespaces, labelled Docker objects, VMs.
 */
async function downAll(): Promise<DownReport[]> {
  const reports: DownReport[] = [];
  for (const lab of await listLabDirs()) {
    const provider = await providerOfLab(lab).catch(() => getProvider('netns'));
    reports.push(
      await provider
        .down(lab)
        .catch((err: unknown) => ({ lab, removed: [], errors: [String(err)] })),
    );
  }
  reports.push(...(await (await getProvider('netns')).sweep({ all: true })));
  if (dockerAnswers())
    reports.push(
      ...(await getProvider('docker')
        .then((p) => p.sweep({ all: true }))
        .catch((err: unknown) => [{ lab: '(docker)', removed: [], errors: [String(err)] }])),
    );
  const { vms, scratch } = await sweepVmsIfAny();
  const vmLeft = [...(vms > 0 ? [`${vms} VM process(es)`] : []), ...scratch];
  if (vmLeft.length > 0) reports.push({ lab: '(vm)', removed: vmLeft, errors: [] });
  return reports.filter(
    (r) => r.removed.length > 0 || r.errors.length > 0 || !r.lab.startsWith('('),
  );
}

export function register(program: Command): void {
  program
    .command('down')
    .description('remove a lab and everything it created')
    .argument('[lab]', 'lab name')
    .option('--all', 'remove every svclab lab on this machine (and leftovers of crashed runs)')
    .option('--json', 'machine-readable output')
    .action(async (name: string | undefined, o) => {
      if (!name && !o.all) throw new UsageError('say which lab to remove, or --all');
      let reports: DownReport[];
      if (o.all) {
        reports = await downAll();
      } else {
        const provider = await providerOfLab(name!).catch(() => getProvider('netns'));
        reports = [await provider.down(name!)];
      }
      if (o.json) printJson(reports);
      else {
        for (const r of reports)
          process.stdout.write(
            `lab ${r.lab}: removed ${r.removed.length > 0 ? r.removed.join(', ') : 'nothing'}\n`,
          );
        if (reports.length === 0) process.stdout.write('nothing to remove\n');
      }
      const errors = reports.flatMap((r) => r.errors.map((e) => `lab ${r.lab}: ${e}`));
      if (errors.length > 0) throw new Error(`some cleanup failed:\n${errors.join('\n')}`);
    });
}
