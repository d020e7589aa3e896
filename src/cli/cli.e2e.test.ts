import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelHasIpvs } from '../cluster/preflight.js';
import { skipWhen } from '../harness/skip.js';
import { labDir } from '../cluster/state.js';

// Bad input is refused cleanly: a clear message naming what is wrong, exit code 2, and nothing
// created. Runs the built CLI as a user would.
const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'bin', 'svclab.js');
const invalidDir = join(root, 'topologies', 'testdata', 'invalid');
const svclab = (args: string[], opts: { env?: Record<string, string>; user?: string } = {}) =>
  opts.user
    ? execa('runuser', ['-u', opts.user, '--', process.execPath, cli, ...args], {
        reject: false,
        env: opts.env,
      })
    : execa(process.execPath, [cli, ...args], { reject: false, env: opts.env });
// /run/netns appears with the machine's first named namespace: on a fresh one, before any lab.
const labNamespaces = () =>
  existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('svclab.')) : [];
const isRoot = process.getuid?.() === 0;
const notRoot = skipWhen('root', !isRoot && 'needs root');
const kernelHasIpvsSkip =
  notRoot ?? skipWhen('kernel-has-ipvs', kernelHasIpvs() && 'this kernel has IP_VS');

describe('bad input', () => {
  const invalid = readdirSync(invalidDir).filter((f) => f.endsWith('.yaml'));

  it.each(invalid)(
    '%s: exit 2, every problem with file and path, nothing created',
    async (file) => {
      const before = isRoot ? labNamespaces() : [];
      const r = await svclab(['up', join(invalidDir, file), '--name', 'badinput']);
      expect(r.exitCode).toBe(2);
      const expected = readFileSync(
        join(invalidDir, file.replace(/\.yaml$/, '.errors.txt')),
        'utf8',
      )
        .trim()
        .split('\n');
      for (const line of expected.filter((l) => !l.includes(': warning:'))) {
        // Golden lines name the file by its base name; the CLI names it by the path given.
        expect(r.stderr).toContain(line.replace(/^[^:]+: /, ''));
      }
      expect(r.stderr).toContain(file);
      expect(existsSync(labDir('badinput'))).toBe(false);
      if (isRoot) expect(labNamespaces()).toEqual(before);
    },
  );

  it('refuses an unknown proxy mode with the list of valid ones', async () => {
    const r = await svclab(['up', join(root, 'topologies', 'two-node.yaml'), '--proxy', 'bpf']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/bpf/);
    expect(r.stderr).toMatch(/iptables.*nftables.*ipvs/);
  });

  it('refuses a bad --proxy-command before anything is created, naming the placeholder', async () => {
    const before = isRoot ? labNamespaces() : [];
    const two = join(root, 'topologies', 'two-node.yaml');
    const bad = await svclab([
      'up',
      two,
      '--proxy',
      'kube-proxy',
      '--proxy-command',
      'p {nodeName}',
    ]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--proxy-command: Invalid value: unknown placeholder {nodeName}');
    const wrong = await svclab(['test', '--proxy', 'nftables', '--proxy-command', 'p {node}']);
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toContain('--proxy-command: only with --proxy kube-proxy');
    if (isRoot) expect(labNamespaces()).toEqual(before);
  });

  it('fidelity and matrix: refuse --from without --random, and a --merge-into that is not their report (or not of this node or release), before comparing anything', async () => {
    const before = isRoot ? labNamespaces() : [];
    const from = await svclab(['fidelity', '--from', '3']);
    expect(from.exitCode).toBe(2);
    expect(from.stderr).toContain('--from: only with --random');
    const zero = await svclab(['fidelity', '--random', '11', '--count', '2', '--from', '0']);
    expect(zero.exitCode).toBe(2);
    expect(zero.stderr).toContain('--from must be an integer of at least 1, got "0"');
    const missing = await svclab(['fidelity', '--merge-into', join(root, 'topologies')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('--merge-into: Not found: no fidelity.json in');
    const other = mkdtempSync(join(tmpdir(), 'svclab-merge-'));
    writeFileSync(join(other, 'fidelity.json'), JSON.stringify({ kind: 'PersistenceMatrix' }));
    writeFileSync(
      join(other, 'persistence-matrix.json'),
      JSON.stringify({ kind: 'FidelityReport' }),
    );
    const matrix = await svclab(['fidelity', '--merge-into', other]);
    expect(matrix.exitCode).toBe(2);
    expect(matrix.stderr).toContain('is not a fidelity report');
    // The same check serves `svclab matrix --merge-into`.
    const fidelity = await svclab(['matrix', '--merge-into', other]);
    rmSync(other, { recursive: true });
    expect(fidelity.exitCode).toBe(2);
    expect(fidelity.stderr).toContain('is not a persistence matrix report');
    const noMatrix = await svclab(['matrix', '--merge-into', join(root, 'topologies')]);
    expect(noMatrix.exitCode).toBe(2);
    expect(noMatrix.stderr).toContain('--merge-into: Not found: no persistence-matrix.json in');
    const node = await svclab([
      'fidelity',
      '--node',
      'node-b',
      '--merge-into',
      join(root, 'docs', 'fidelity'),
    ]);
    expect(node.exitCode).toBe(2);
    expect(node.stderr).toContain(
      '--merge-into: Invalid value: node: the report merged into has "node-a", this run "node-b"',
    );
    // The release is known before the run too: another one is refused before bring-up.
    const release = await svclab(['fidelity', '--merge-into', join(root, 'docs', 'fidelity')], {
      env: { SVCLAB_KUBE_VERSION: 'v1.36.3' },
    });
    expect(release.exitCode).toBe(2);
    expect(release.stderr).toContain(
      '--merge-into: Invalid value: kubeVersion: the report merged into has "v1.37.2", this run "v1.36.3"',
    );
    if (isRoot) expect(labNamespaces()).toEqual(before);
  });

  it('refuses an unknown flag and shows the valid ones', async () => {
    const r = await svclab(['up', join(root, 'topologies', 'two-node.yaml'), '--frobnicate']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("unknown option '--frobnicate'");
    expect(r.stderr).toContain('--proxy <mode>');
  });

  it('refuses an unknown suite with the list of suites', async () => {
    const r = await svclab(['test', 'nosuch']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('unknown suite "nosuch"');
    expect(r.stderr).toContain('hairpin');
  });

  it('says plainly when a file does not exist', async () => {
    const r = await svclab(['validate', join(root, 'topologies', 'nope.yaml')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/nope\.yaml/);
  });

  it.skipIf(notRoot)('says it needs root, in one line, when run as another user', async () => {
    const r = await svclab(['up', join(root, 'topologies', 'two-node.yaml'), '--name', 'notroot'], {
      user: 'nobody',
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/needs root/);
  });

  it.skipIf(kernelHasIpvsSkip)(
    'says in one line that this kernel lacks IP_VS, and where to run IPVS instead',
    async () => {
      const r = await svclab([
        'up',
        join(root, 'topologies', 'two-node.yaml'),
        '--name',
        'noipvs',
        '--proxy',
        'ipvs',
      ]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/no IP_VS.*svclab vm/);
      expect(labNamespaces().filter((n) => n.includes('.noipvs.'))).toEqual([]);
    },
  );

  it.skipIf(notRoot)('names a missing tool and the apt line that installs it', async () => {
    // A PATH that has node and ip but no iptables-nft-restore.
    const r = await svclab(['up', join(root, 'topologies', 'two-node.yaml'), '--name', 'notools'], {
      env: { PATH: '/nonexistent' },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/missing tools for --proxy iptables: .*iptables-nft-restore/);
    expect(r.stderr).toMatch(/apt-get install -y .*iptables/);
    expect(labNamespaces().filter((n) => n.includes('.notools.'))).toEqual([]);
  });
});
