import { execa } from 'execa';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { which } from '../cluster/preflight.js';
import { skipWhen } from './skip.js';

// Through the real runner: `svclab test` of a suite whose mode cannot run for a reason no
// declaration expects (the legacy iptables tools are hidden from PATH) skips every test, vitest
// exits 0, and svclab test must still fail and say why.
const root = join(import.meta.dirname, '..', '..');
const bin = mkdtempSync(join(tmpdir(), 'svclab-path-'));
afterAll(() => rmSync(bin, { recursive: true, force: true }));

describe.skipIf(skipWhen('root', process.getuid?.() !== 0 && 'needs root'))('honest counts', () => {
  it('a run in which a whole mode was skipped fails, and lists the skip with its reason', async () => {
    // Everything the harness needs except iptables-legacy-restore.
    for (const tool of ['ip', 'sysctl', 'conntrack', 'iptables-save', 'nft', 'ipset']) {
      const p = which(tool);
      if (p) symlinkSync(p, join(bin, tool));
    }
    symlinkSync(process.execPath, join(bin, 'node'));
    const r = await execa(
      process.execPath,
      [join(root, 'bin', 'svclab.js'), 'test', 'hairpin', '--iptables-backend', 'legacy'],
      { cwd: root, env: { PATH: bin, NO_COLOR: '1' }, reject: false, all: true },
    );
    expect(r.all).toMatch(/Tests\s+3 skipped/);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.all).toMatch(
      /run-0: suites\/hairpin\/hairpin\.test\.ts \[iptables\/partial\/legacy\] \(3 tests\): missing iptables-legacy-restore.*NOT DECLARED/,
    );
    expect(r.all).toMatch(/svclab: 0 passed, 0 failed, 3 skipped, 1 undeclared skip/);
  }, 120_000);
});
