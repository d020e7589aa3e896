import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWhen } from '../harness/skip.js';
import { ensureKernel, listVms, runInVm, vmAvailable, type VmRunResult } from './index.js';

// Two boots in all: one that does every in-VM check and exits 7, one that proves output
// streams (the host interrupts the VM when it sees the first line). Everything network-
// related happens in a namespace inside the VM; the host's namespaces are never touched.

const skip =
  skipWhen('root', process.getuid?.() !== 0 && 'needs root') ??
  (await vmAvailable().then((a) => skipWhen('vm', !a.available && a.reason)));

const inVm = `
set -e
echo out-line
echo err-line >&2
[ -e /proc/net/ip_vs ] && echo present > proc-ip-vs.txt
ip netns add svclab-t-vm-a
ip -n svclab-t-vm-a link set lo up
ip -n svclab-t-vm-a link add kube-ipvs0 type dummy
ip -n svclab-t-vm-a addr add 10.96.0.10/32 dev kube-ipvs0
ip -n svclab-t-vm-a -d -o link show kube-ipvs0 > dummy.txt
ip netns exec svclab-t-vm-a ipvsadm -A -t 10.96.0.10:80 -s rr
ip netns exec svclab-t-vm-a ipvsadm -a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m
ip netns exec svclab-t-vm-a ipvsadm -Ln > ipvs.txt
echo written-in-vm > from-vm.txt
exit 7
`;

describe.skipIf(skip)('VM runner', () => {
  let project: string;
  let result: VmRunResult;
  const out = { stdout: '', stderr: '' };
  const read = (f: string) => readFile(join(project, f), 'utf8');

  beforeAll(async () => {
    await ensureKernel({ log: (l) => console.warn(`vm: ${l}`) });
    project = await mkdtemp(join(tmpdir(), 'svclab-t-vm-'));
    result = await runInVm({
      command: ['sh', '-c', inVm],
      cwd: project,
      timeoutMs: 300_000,
      onOutput: (stream, chunk) => (out[stream] += chunk.toString('utf8')),
    });
  }, 900_000);

  afterAll(async () => {
    if (project) await rm(project, { recursive: true, force: true });
  });

  it("propagates the command's exit code", () => {
    expect(result.timedOut).toBe(false);
    expect(result.exitCode, `stderr from the VM:\n${out.stderr}`).toBe(7);
  });

  it('keeps stdout and stderr apart', () => {
    expect(out.stdout).toBe('out-line\n');
    expect(out.stderr).toBe('err-line\n');
  });

  it('brings files written in the project share back to the host', async () => {
    expect(await read('from-vm.txt')).toBe('written-in-vm\n');
  });

  it('has IPVS in the kernel', async () => {
    expect(await read('proc-ip-vs.txt')).toBe('present\n');
  });

  it('creates a dummy interface inside a namespace inside the VM', async () => {
    const link = await read('dummy.txt');
    expect(link).toMatch(/kube-ipvs0/);
    expect(link).toMatch(/\bdummy\b/);
  });

  it('programs IPVS with ipvsadm inside a namespace there', async () => {
    const table = await read('ipvs.txt');
    expect(table).toMatch(/TCP\s+10\.96\.0\.10:80 rr/);
    expect(table).toMatch(/->\s+10\.244\.1\.2:8080\s+Masq\s+1/);
  });

  it('streams output while the command runs, and stops the VM when aborted', async () => {
    // If output only arrived at the end, the abort below would never fire and the run would
    // end by its timeout (exit 124) instead.
    const abort = new AbortController();
    let seen = '';
    const r = await runInVm({
      command: ['sh', '-c', 'echo early; exec sleep 600'],
      cwd: project,
      timeoutMs: 300_000,
      signal: abort.signal,
      onOutput: (_stream, chunk) => {
        seen += chunk.toString('utf8');
        if (seen.includes('early\n')) abort.abort();
      },
    });
    expect(r.timedOut).toBe(false);
    expect(r.interruptedBy).toBe('SIGINT');
    expect(r.exitCode).toBe(130);
    expect((await listVms()).filter((vm) => vm.ownerPid === process.pid)).toEqual([]);
  }, 320_000);
});
