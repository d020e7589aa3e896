import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../cli/package-root.js';
import {
  kubeProxyBinaryOption,
  proxyCommandOption,
  proxyModeOption,
  realProxyOption,
} from '../../cli/commands/options.js';

// The GitHub Actions workflows are checked against the workflow schema by action-validator, so a
// typo in a key fails `npm run test:unit` (and .ci/run) instead of the first push.
const root = packageRoot();
const validator = join(root, 'node_modules', '.bin', 'action-validator');
const dir = join(root, '.github', 'workflows');
const workflows = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const tmp = mkdtempSync(join(tmpdir(), 'svclab-workflows-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const validate = (file: string) => execa(validator, [file], { reject: false });

describe('GitHub Actions workflows', () => {
  it('ships ci, kind and bench', () => {
    expect(workflows).toEqual(expect.arrayContaining(['bench.yml', 'ci.yml', 'kind.yml']));
  });

  for (const wf of workflows) {
    it(`${wf} is a valid workflow`, async () => {
      const r = await validate(join(dir, wf));
      expect(r.stdout + r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
    });
  }

  it('action.yml (the composite action) is a valid action, and ci runs the suites through it', async () => {
    const r = await validate(join(root, 'action.yml'));
    expect(r.stdout + r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'ci.yml'), 'utf8')).toMatch(/^\s+uses: \.\/$/m);
  });

  it('the validator rejects an invalid workflow (so the checks above can fail)', async () => {
    const bad = join(tmp, 'bad.yml');
    writeFileSync(
      bad,
      'name: bad\non: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    stepz:\n      - run: true\n',
    );
    expect((await validate(bad)).exitCode).not.toBe(0);
  });
});

interface ActionStep {
  name?: string;
  id?: string;
  if?: string;
  env?: Record<string, string>;
  run?: string;
}
interface Action {
  inputs: Record<string, { description: string; default?: string }>;
  runs: { steps: ActionStep[] };
}

const action = parse(readFileSync(join(root, 'action.yml'), 'utf8')) as Action;
const stepNamed = (name: string) => {
  const step = action.runs.steps.find((s) => s.id === name || s.name === name);
  if (!step?.run) throw new Error(`action.yml: no step ${name} with a run script`);
  return step;
};

/**
 * Runs a step's script as the runner would (bash -eo pipefail), with each `${{ inputs.X }}` of its
 * env replaced by `inputs[X]` (else the input's default) and a `sudo` that records its argv
 * instead of running anything: what the step hands to svclab, without svclab.
 */
async function svclabArgv(
  step: ActionStep,
  inputs: Record<string, string>,
): Promise<{ argv: string[]; cwd: string }> {
  const dir = mkdtempSync(join(tmp, 'step-'));
  mkdirSync(join(dir, 'bin'));
  const argvFile = join(dir, 'argv.json');
  writeFileSync(
    join(dir, 'bin', 'sudo'),
    `#!/bin/sh\nexec node -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)))' ${JSON.stringify(argvFile)} "$@"\n`,
  );
  chmodSync(join(dir, 'bin', 'sudo'), 0o755);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(step.env ?? {}))
    env[k] = String(v)
      .replace(/\$\{\{ inputs\.([\w-]+) \}\}/g, (_, name: string) => {
        if (!(name in action.inputs))
          throw new Error(`action.yml: step uses unknown input ${name}`);
        return inputs[name] ?? action.inputs[name]!.default ?? '';
      })
      .replace(/\$\{\{ github\.action_path \}\}/g, root);
  const r = await execa('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run!], {
    cwd: dir,
    env: {
      ...env,
      PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}`,
      GITHUB_OUTPUT: join(dir, 'output'),
      GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
    },
    extendEnv: false,
    reject: false,
  });
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  const argv = JSON.parse(readFileSync(argvFile, 'utf8')) as string[];
  // sudo -E env PATH=... node <svclab> <command...>
  expect(argv.slice(0, 2)).toEqual(['-E', 'env']);
  expect(argv.slice(3, 5)).toEqual(['node', join(root, 'bin', 'svclab.js')]);
  return { argv: argv.slice(5), cwd: dir };
}

/** The value after `flag` in argv, or undefined when the flag is not there. */
const flagValue = (argv: string[], flag: string) =>
  argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined;

describe('action.yml: the real kube-proxy', () => {
  const realInputs = {
    'proxy-mode': proxyModeOption(),
    'kube-proxy-binary': kubeProxyBinaryOption(),
    'proxy-command': proxyCommandOption(),
  };

  it('has the inputs, empty by default (svclab decides), and names every choice', () => {
    for (const name of Object.keys(realInputs)) {
      expect(action.inputs[name], `input ${name}`).toBeDefined();
      expect(action.inputs[name]!.default, `input ${name}`).toBe('');
    }
    for (const choice of realProxyOption().argChoices ?? [])
      expect(action.inputs.proxy!.description).toContain(choice);
    for (const choice of proxyModeOption().argChoices ?? [])
      expect(action.inputs['proxy-mode']!.description).toContain(choice);
  });

  it('passes each set input to svclab test as its flag', async () => {
    const { argv, cwd } = await svclabArgv(stepNamed('test'), {
      proxy: 'kube-proxy',
      'proxy-mode': 'nftables',
      'kube-proxy-binary': '_output/bin/kube-proxy',
      'proxy-command': "/opt/my-proxy --kubeconfig {kubeconfig} --name 'a b'",
    });
    expect(argv[0]).toBe('test');
    expect(flagValue(argv, '--proxy')).toBe('kube-proxy');
    expect(flagValue(argv, realInputs['proxy-mode'].long!)).toBe('nftables');
    // Relative to working-directory, made absolute: the built-in suites run from svclab's folder.
    expect(flagValue(argv, realInputs['kube-proxy-binary'].long!)).toBe(
      join(cwd, '_output/bin/kube-proxy'),
    );
    expect(flagValue(argv, realInputs['proxy-command'].long!)).toBe(
      "/opt/my-proxy --kubeconfig {kubeconfig} --name 'a b'",
    );
  });

  it('passes no kube-proxy flag when the inputs are empty (an empty --proxy-mode is invalid)', async () => {
    const { argv } = await svclabArgv(stepNamed('test'), { proxy: 'nftables' });
    expect(flagValue(argv, '--proxy')).toBe('nftables');
    for (const o of Object.values(realInputs)) expect(argv).not.toContain(o.long);
  });

  it('builds the Kubernetes components before the suites, for kube-proxy only', async () => {
    const steps = action.runs.steps.map((s) => s.id ?? s.name);
    const build = stepNamed('build Kubernetes components');
    expect(steps.indexOf('build Kubernetes components')).toBeLessThan(steps.indexOf('test'));
    expect(build.if).toBe("inputs.proxy == 'kube-proxy'");
    const { argv: all } = await svclabArgv(build, {
      proxy: 'kube-proxy',
      'kube-version': 'v1.36.3',
    });
    expect(all.slice(0, 2)).toEqual(['kube', 'build']);
    expect(flagValue(all, '--kube-version')).toBe('v1.36.3');
    expect(all).not.toContain('--components');
    const { argv: defaults } = await svclabArgv(build, { proxy: 'kube-proxy' });
    expect(defaults).not.toContain('--kube-version');
    // A kube-proxy of one's own: the control plane still needs the rest.
    const { argv: own } = await svclabArgv(build, {
      proxy: 'kube-proxy',
      'kube-proxy-binary': '/opt/kube-proxy',
    });
    expect(flagValue(own, '--components')).toBe(
      'etcd,kube-apiserver,kube-controller-manager,kubectl',
    );
  });

  it('loads the IPVS modules for kube-proxy in IPVS mode too', () => {
    expect(stepNamed('load IPVS modules').if).toContain("inputs.proxy-mode == 'ipvs'");
  });

  it("names the default artifact by kube-proxy's mode (a matrix over the modes must not collide)", () => {
    const upload = action.runs.steps.find((s) => s.name === 'upload results and dumps') as
      { with?: { name?: string } } | undefined;
    expect(upload?.with?.name).toContain('inputs.proxy-mode');
  });
});
