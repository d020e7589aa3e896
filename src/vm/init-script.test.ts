import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  controlLines,
  renderCommandScript,
  renderInitScript,
  renderRunSpec,
} from './init-script.js';
import { bootModules, labModules } from './modules.js';

const init = renderInitScript({ bootModules, labModules });
const lineOf = (needle: string) => init.split('\n').findIndex((l) => l.includes(needle));

describe('renderInitScript', () => {
  it('is a busybox script that loads every module in one modprobe, crc32c first among the lab ones', () => {
    expect(init.startsWith('#!/bin/busybox sh\n')).toBe(true);
    const modprobe = init.split('\n').filter((l) => /^\s*modprobe /.test(l));
    expect(modprobe).toHaveLength(1);
    const words = modprobe[0]!.split(/\s+/);
    expect(words.indexOf('crc32c_generic')).toBeLessThan(words.indexOf('ip_vs'));
    expect(words.indexOf('9p')).toBeGreaterThan(0);
  });

  it('brings lo up before the command starts (IPVS rejects real servers without a local table)', () => {
    expect(lineOf('ip link set lo up')).toBeGreaterThan(0);
    expect(lineOf('ip link set lo up')).toBeLessThan(lineOf(controlLines.started));
  });

  it('mounts the host root read-only with the loose cache before the spec runs', () => {
    const mount = lineOf('hostroot /host');
    expect(init.split('\n')[mount]).toMatch(/ro,cache=loose,msize=524288/);
    expect(mount).toBeLessThan(lineOf('. /spec.sh'));
  });

  it('runs the host shell by absolute path in the chroot, then reports the exit code and powers off', () => {
    const chroot = lineOf('chroot /host');
    expect(init.split('\n')[chroot]).toBe(
      'chroot /host /bin/sh /run/svclab/command.sh </dev/null >$OUT 2>$ERR',
    );
    expect(lineOf(controlLines.exitPrefix)).toBeGreaterThan(chroot);
    expect(init.split('\n').lastIndexOf('sync')).toBeGreaterThan(chroot);
    expect(init.trimEnd().endsWith('poweroff -f')).toBe(true);
  });

  it('is valid shell', () => {
    execFileSync('sh', ['-n'], { input: init });
  });
});

describe('renderRunSpec', () => {
  it('survives hostile paths and scripts when sourced by a shell', () => {
    const spec = renderRunSpec({
      projectDir: "/work/it's here",
      tmpfs: ['/tmp', '/root/.npm'],
      commandScript: 'echo "$HOME" \'quoted\' $(nope)\nsecond line',
    });
    const stub = `svclab_tmpfs() { printf 'tmpfs<%s>\\n' "$1"; }
svclab_project() { printf 'project<%s>\\n' "$1"; }
svclab_command() { printf 'command<%s>\\n' "$1"; }
${spec}`;
    expect(execFileSync('sh', ['-c', stub], { encoding: 'utf8' })).toBe(
      "tmpfs</tmp>\ntmpfs</root/.npm>\nproject</work/it's here>\ncommand<echo \"$HOME\" 'quoted' $(nope)\nsecond line>\n",
    );
  });
});

describe('renderCommandScript', () => {
  it('runs exactly argv with exactly env, in cwd', () => {
    const script = renderCommandScript({
      command: ['sh', '-c', 'printf "%s|" "$0" "$1" "$V" "$PWD"', "it's", 'a b'],
      cwd: '/',
      env: { PATH: '/usr/bin:/bin', V: 'x y $z', 'BAD-NAME': 'dropped' },
    });
    expect(execFileSync('sh', ['-c', script], { encoding: 'utf8', env: { LEAK: '1' } })).toBe(
      "it's|a b|x y $z|/|",
    );
  });

  it('exits 126 when the cwd is missing', () => {
    const script = renderCommandScript({
      command: ['true'],
      cwd: '/nonexistent/svclab',
      env: { PATH: '/usr/bin:/bin' },
    });
    let status: number | null = null;
    try {
      execFileSync('sh', ['-c', script], { stdio: 'ignore' });
    } catch (err) {
      status = (err as { status: number | null }).status;
    }
    expect(status).toBe(126);
  });

  it('refuses an empty command', () => {
    expect(() => renderCommandScript({ command: [], cwd: '/', env: {} })).toThrow(/no command/);
  });
});
