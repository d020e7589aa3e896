import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { labDir } from '../cluster/state.js';
import { uniqueLabName } from '../harness/lab-fixture.js';
import { skipWhen } from '../harness/skip.js';

// Crash safety: a run killed at any point leaves only resources labelled with its lab name, and
// `svclab sweep` (which also runs before every e2e run) removes all of them. Ctrl-C tears down.
const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'bin', 'svclab.js');
const topo = join(root, 'topologies', 'three-node.yaml');
const skip = skipWhen('root', process.getuid?.() !== 0 && 'needs root');

function leftovers(lab: string) {
  const namespaces = readdirSync('/run/netns').filter((n) => n.startsWith(`svclab.${lab}.`));
  const processes = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        // Agents and the lab kubelet carry --lab; etcd and the API server name the lab folder.
        return argv.some(
          (a, i) => (a === '--lab' && argv[i + 1] === lab) || a.includes(`${labDir(lab)}/`),
        );
      } catch {
        return false;
      }
    });
  return { namespaces, processes, stateDir: existsSync(labDir(lab)) };
}

/** Starts `svclab up` and resolves once its progress output shows `line` (plain progress, as in CI). */
function upUntil(lab: string, line: RegExp, extra: string[] = []): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [cli, 'up', topo, '--name', lab, '--proxy', 'iptables', ...extra],
    {
      env: { ...process.env, CI: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`svclab up never printed ${line}: ${seen}`)),
      30_000,
    );
    child.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (line.test(seen)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      if (!line.test(seen)) reject(new Error(`svclab up exited before ${line}: ${seen}`));
    });
  });
}

/** The ready ephemeral lab the process `pid` owns, once there is one. */
async function ownedLabOf(pid: number): Promise<string> {
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    const lab = readdirSync('/run/svclab').find((d) => {
      try {
        const st = JSON.parse(readFileSync(join(labDir(d), 'state.json'), 'utf8'));
        return st.ephemeral && st.phase === 'ready' && st.ownerPid === pid;
      } catch {
        return false;
      }
    });
    if (lab) return lab;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`process ${pid} made no lab in 45 s`);
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) =>
    c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.on('exit', (code) => r(code)),
  );

describe.skipIf(skip)('crash safety', () => {
  const cp = ['--control-plane'];
  const points: [string, RegExp, string[]][] = [
    ['while provisioning namespaces', /provision namespaces\.\.\./, []],
    ['while starting agents', /start agents\.\.\./, []],
    ['while installing the proxy', /install proxy \(iptables\)\.\.\./, []],
    // With a control plane: every phase that starts a process or writes the API.
    ['while the lab kubelet starts', /certificates and the lab kubelet: done/, cp],
    ['while etcd starts', /control plane: etcd\.\.\./, cp],
    ['while kube-apiserver starts', /control plane: kube-apiserver\.\.\./, cp],
    ['while kube-controller-manager starts', /control plane: kube-controller-manager\.\.\./, cp],
    ['while registering Nodes and Pods', /register Nodes, Pods and Services\.\.\./, cp],
    [
      'while waiting for EndpointSlices',
      /Pods Ready, EndpointSlices from the controller\.\.\./,
      cp,
    ],
    ['while the proxy is installed from the API', /install proxy \(iptables\)\.\.\./, cp],
  ];
  for (const [when, line, extra] of points) {
    it(`SIGKILL ${when}${extra.length ? ' (control plane)' : ''}: only labelled resources remain, and the sweep removes them`, async () => {
      const lab = uniqueLabName('crash');
      const child = await upUntil(lab, line, extra);
      child.kill('SIGKILL');
      await exited(child);
      const left = leftovers(lab);
      // Whatever exists is findable by the lab's name (state folder written before anything else).
      expect(left.stateDir).toBe(true);
      const sweep = await execa(process.execPath, [cli, 'sweep', '--json'], { reject: false });
      expect(sweep.exitCode).toBe(0);
      expect(JSON.parse(sweep.stdout).labs.map((r: { lab: string }) => r.lab)).toContain(lab);
      expect(leftovers(lab)).toEqual({ namespaces: [], processes: [], stateDir: false });
    });
  }

  it('SIGKILL of a finished `up` leaves a working lab that `down --all` removes', async () => {
    const lab = uniqueLabName('crash');
    const r = await execa(process.execPath, [cli, 'up', topo, '--name', lab, '--json'], {
      reject: false,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    // A lab made by `svclab up` is meant to outlive the command: the sweep must spare it...
    await execa(process.execPath, [cli, 'sweep']);
    expect(leftovers(lab).namespaces.length).toBe(10);
    // ...and `down` removes it completely.
    const down = await execa(process.execPath, [cli, 'down', lab]);
    expect(down.stdout).toContain(`lab ${lab}: removed`);
    expect(leftovers(lab)).toEqual({ namespaces: [], processes: [], stateDir: false });
  });

  it('Ctrl-C (SIGINT) during up tears down by itself', async () => {
    const lab = uniqueLabName('crash');
    const child = await upUntil(lab, /start agents\.\.\./);
    child.kill('SIGINT');
    expect(await exited(child)).toBe(130);
    expect(leftovers(lab)).toEqual({ namespaces: [], processes: [], stateDir: false });
  });

  // Commands that make labs for themselves (bench, matrix, fidelity) remove them on a signal, as
  // `up` does: a Ctrl-C during a 20-minute benchmark left its lab, control plane included.
  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s of `svclab bench scale` while its lab is up removes that lab',
    async (signal) => {
      const out = mkdtempSync(join(tmpdir(), 'svclab-crash-bench-'));
      const child = spawn(
        process.execPath,
        [
          cli,
          'bench',
          'scale',
          '--quick',
          '--modes',
          'iptables-partial',
          '--services',
          '1',
          '--out',
          out,
        ],
        { stdio: 'ignore' },
      );
      try {
        const lab = await ownedLabOf(child.pid!);
        expect(leftovers(lab).namespaces.length).toBeGreaterThan(0);
        child.kill(signal);
        expect(await exited(child)).toBe(signal === 'SIGINT' ? 130 : 143);
        expect(leftovers(lab)).toEqual({ namespaces: [], processes: [], stateDir: false });
      } finally {
        child.kill('SIGKILL');
        rmSync(out, { recursive: true, force: true });
      }
    },
    60_000,
  );

  it('a suite run killed mid-way leaves an ephemeral lab that the sweep removes', async () => {
    // Labs that exist already are someone else's (another run on this machine), not the suite's.
    const before = new Set(readdirSync('/run/svclab'));
    const child = spawn(
      join(root, 'node_modules', '.bin', 'vitest'),
      ['run', '--project', 'e2e', 'suites/session-affinity'],
      {
        cwd: root,
        env: { ...process.env, SVCLAB_PROXY: 'iptables' },
        stdio: 'ignore',
        detached: true,
      },
    );
    // Wait until the suite's lab is ready, then kill the whole run as a crash would.
    const deadline = Date.now() + 60_000;
    let lab: string | undefined;
    while (!lab && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      lab = readdirSync('/run/svclab').find((d) => {
        if (before.has(d)) return false;
        try {
          const st = JSON.parse(readFileSync(join(labDir(d), 'state.json'), 'utf8'));
          return st.ephemeral && st.phase === 'ready' && st.ownerPid !== process.pid;
        } catch {
          return false;
        }
      });
    }
    expect(lab).toBeDefined();
    process.kill(-child.pid!, 'SIGKILL');
    await exited(child);
    expect(leftovers(lab!).namespaces.length).toBeGreaterThan(0);
    await execa(process.execPath, [cli, 'sweep']);
    expect(leftovers(lab!)).toEqual({ namespaces: [], processes: [], stateDir: false });
  }, 90_000);
});
