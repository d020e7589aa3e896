import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKernel } from './kernel.js';
import type { VmAccel } from './qemu-args.js';
import { resolveAccel, runInVm, type VmRunResult } from './runner.js';

export interface BenchVmOptions {
  kernel?: string | undefined;
  accel?: VmAccel | undefined;
  cacheDir?: string | undefined;
  memoryMiB?: number | undefined;
  cpus?: number | undefined;
}

export interface VmBenchRun extends Omit<
  VmRunResult,
  'timedOut' | 'interruptedBy' | 'kernelRelease'
> {
  command: string[];
}

export interface VmBench {
  kernelRelease: string;
  accel: VmAccel;
  /** ensureKernel (a cache hit unless this was the first run). */
  prepareMs: number;
  /** One fresh VM per command: boot, run, power off. */
  runs: VmBenchRun[];
  /** Inside one VM, each command timed twice: cold (first touch over 9p), then cached. */
  inside: Record<string, { coldMs: number; warmMs: number }>;
  /** 1-minute load average of the host when the bench started: the numbers mean little on a busy host. */
  hostLoad: number;
}

// Timed by the guest itself, in the host's own shell, so the host clock and the VM's
// boot do not blur the per-command cost.
const insideScript = `
t() { s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
printf '{"node -e 1":{"coldMs":%s,' "$(t node -e 1)"; printf '"warmMs":%s},' "$(t node -e 1)"
printf '"ip netns add":{"coldMs":%s,' "$(t ip netns add svclab-bench-a)"; printf '"warmMs":%s},' "$(t ip netns add svclab-bench-b)"
printf '"ip link add dummy":{"coldMs":%s,' "$(t ip -n svclab-bench-a link add d0 type dummy)"; printf '"warmMs":%s}}' "$(t ip -n svclab-bench-b link add d0 type dummy)"
`;

/** Boot-to-command and teardown numbers for `svclab bench vm` (JSON-ready). */
export async function benchVm(opts: BenchVmOptions = {}): Promise<VmBench> {
  const hostLoad = loadavg()[0] ?? 0;
  const t0 = performance.now();
  const kernel = await ensureKernel({ kernel: opts.kernel, cacheDir: opts.cacheDir });
  const prepareMs = performance.now() - t0;
  const project = await mkdtemp(join(tmpdir(), 'svclab-vm-bench-'));
  try {
    const common = {
      cwd: project,
      kernel: opts.kernel,
      accel: opts.accel,
      cacheDir: opts.cacheDir,
      memoryMiB: opts.memoryMiB,
      cpus: opts.cpus,
      timeoutMs: 300_000,
    };
    const runs: VmBenchRun[] = [];
    for (const command of [['true'], ['node', '-e', '1'], ['ip', 'netns', 'add', 'x']]) {
      const r = await runInVm({ ...common, command, onOutput: () => {} });
      if (r.exitCode !== 0)
        throw new Error(`bench command ${command.join(' ')} exited ${r.exitCode} in the VM`);
      const { bootMs, commandMs, teardownMs, totalMs, exitCode, guestPhases } = r;
      runs.push({ command, exitCode, bootMs, commandMs, teardownMs, totalMs, guestPhases });
    }
    const inside = await runInVm({
      ...common,
      command: ['sh', '-c', `exec >inside.json\n${insideScript}`],
      onOutput: () => {},
    });
    if (inside.exitCode !== 0) throw new Error(`bench script exited ${inside.exitCode} in the VM`);
    const insideResult = JSON.parse(
      await readFile(join(project, 'inside.json'), 'utf8'),
    ) as VmBench['inside'];
    return {
      kernelRelease: kernel.release,
      accel: resolveAccel(opts.accel),
      prepareMs,
      runs,
      inside: insideResult,
      hostLoad,
    };
  } finally {
    await rm(project, { recursive: true, force: true });
  }
}
