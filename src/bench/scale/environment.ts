import { run } from '../../exec/index.js';
import { machineInfo } from '../machine.js';
import type { Environment } from './report.js';

/** The line of `<tool> -v` that names the tool and a version (ipvsadm also prints modprobe noise without ip_vs). */
export function versionLine(tool: string, output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (
    lines.find((l) => l.toLowerCase().includes(tool.replace(/\d+$/, '')) && /\d+\.\d+/.test(l)) ??
    lines[0] ??
    ''
  );
}

async function version(file: string, args: string[]): Promise<string> {
  const r = await run(file, args, { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
  if (!r) return 'not installed';
  const line = versionLine(file, r.stdout + '\n' + r.stderr);
  if (r.ok && line) return line;
  // ipvsadm -v needs IP_VS in the kernel; the package still says which ipvsadm this is.
  const pkg = await run('dpkg-query', ['-W', '-f=${Version}', file], { allowFailure: true }).catch(
    () => undefined,
  );
  return pkg?.ok
    ? `${file} ${pkg.stdout.trim()} (package version; \`${file} ${args.join(' ')}\` failed)`
    : line || `exit ${r.exitCode}`;
}

/** Kernel, machine and the versions of the tools that program the rules. */
export async function environment(where: 'host' | 'vm', emulated: boolean): Promise<Environment> {
  const m = machineInfo();
  const [iptables, nft, ipvsadm, iperf3] = await Promise.all([
    version('iptables', ['-V']),
    version('nft', ['-v']),
    version('ipvsadm', ['-v']),
    version('iperf3', ['-v']),
  ]);
  return {
    where,
    emulated,
    kernel: m.kernel,
    machine: `${m.cpuModel}, ${m.cpus} CPUs, ${m.memoryGiB} GiB`,
    tools: { iptables, nft, ipvsadm, iperf3 },
  };
}
