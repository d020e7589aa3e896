import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../exec/index.js';
import type { RunIn } from '../kubeconfig/backend.js';
import { nodeExecWithFallback, programMissing } from './node-exec.js';
import { preloadImages } from './images.js';

const result = (over: Partial<ExecResult>): ExecResult => ({
  argv: [],
  netns: undefined,
  exitCode: 0,
  stdout: '',
  stderr: '',
  durationMs: 1,
  timedOut: false,
  ok: true,
  ...over,
});

/** A runner that knows some programs; records where each command ran. */
const runner =
  (where: string, has: string[], log: string[]): RunIn =>
  async (file, args) => {
    log.push(`${where}: ${file} ${args.join(' ')}`);
    if (!has.includes(file))
      return result({
        exitCode: 127,
        ok: false,
        stdout: `OCI runtime exec failed: exec failed: unable to start container process: exec: "${file}": executable file not found in $PATH: unknown`,
      });
    if (args.includes('--fail')) return result({ exitCode: 1, ok: false, stderr: 'bad option' });
    return result({ stdout: `${file} ran in ${where}` });
  };

describe('kind node commands', () => {
  it('tells a missing program from one that ran and failed', () => {
    expect(programMissing(result({ exitCode: 127, stderr: 'sh: ipvsadm: not found' }))).toBe(true);
    expect(programMissing(result({ exitCode: 1, stderr: 'not found' }))).toBe(false);
    expect(programMissing(result({ exitCode: 127, stderr: '' }))).toBe(false);
  });

  it('runs in the node container, and what its image lacks (ipvsadm) in the debug pod, once looked up', async () => {
    const log: string[] = [];
    let debugPods = 0;
    const exec = nodeExecWithFallback(runner('node', ['iptables-save'], log), () => {
      debugPods++;
      return runner('debug', ['ipvsadm'], log);
    });
    expect((await exec('iptables-save', [])).stdout).toBe('iptables-save ran in node');
    expect((await exec('ipvsadm', ['-Ln'])).stdout).toBe('ipvsadm ran in debug');
    expect((await exec('ipvsadm', ['-Ln'])).stdout).toBe('ipvsadm ran in debug');
    expect(log).toEqual([
      'node: iptables-save ',
      'node: ipvsadm -Ln',
      'debug: ipvsadm -Ln',
      'debug: ipvsadm -Ln',
    ]);
    expect(debugPods).toBeGreaterThan(0);
    // A program that ran and failed is the caller's error, not a reason to go elsewhere.
    await expect(exec('iptables-save', ['--fail'])).rejects.toThrow(/bad option/);
    expect((await exec('iptables-save', ['--fail'], { allowFailure: true })).exitCode).toBe(1);
  });
});

describe('preloading images into a kind cluster', () => {
  it('loads the local ones, once each, and notes the rest (the nodes pull them)', async () => {
    const loaded: string[] = [];
    const kind = {
      loadImage: async (cluster: string, image: string) => {
        if (image === 'broken:1') throw new Error('ctr: content digest not found');
        loaded.push(`${cluster} ${image}`);
      },
    };
    const r = await preloadImages(
      kind,
      'svclab-x',
      ['node:24-alpine', 'agnhost:2.52', 'node:24-alpine', 'broken:1'],
      async (image) => image !== 'agnhost:2.52',
    );
    expect(loaded).toEqual(['svclab-x node:24-alpine']);
    expect(r.loaded).toEqual(['node:24-alpine']);
    expect(r.notes).toEqual([
      'agnhost:2.52 is not in the local Docker: the nodes pull it',
      expect.stringMatching(/^kind load docker-image broken:1 failed, the nodes pull it: ctr/),
    ]);
  });
});
