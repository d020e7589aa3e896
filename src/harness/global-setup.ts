import { execa } from 'execa';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getProvider } from '../cluster/providers.js';
import { packageRoot } from '../cli/package-root.js';
import { diffSnapshots, hostNetworkSnapshot } from './host-snapshot.js';

/** Newest modification time of the TypeScript sources (the agent runs compiled, from dist/). */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Once per e2e run (this repository's and a user's, as `svclab/vitest/global-setup`): make sure
 * the compiled agent is current, remove labs that crashed runs left (harness labs whose owner
 * process is gone), and afterwards check that the host's root network namespace is unchanged.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const root = packageRoot();
  const agent = join(root, 'dist', 'traffic', 'agent.js');
  const cli = join(root, 'dist', 'cli', 'bundle', 'main.js');
  const sources = join(root, 'src');
  // An installed package ships dist/ and no sources: nothing to build, only to check.
  if (!existsSync(sources)) {
    if (!existsSync(agent))
      throw new Error(`svclab is installed without its build (${agent} missing): reinstall it`);
  } else if (
    !existsSync(agent) ||
    !existsSync(cli) ||
    statSync(agent).mtimeMs < newestSource(sources)
  ) {
    // The whole build: suites spawn the CLI too, which runs from its bundle.
    await execa('npm', ['run', '--silent', 'build'], {
      cwd: root,
      reject: false,
      stdio: 'inherit',
    });
    if (!existsSync(agent)) throw new Error(`building the agent failed: ${agent} missing`);
  }
  if (process.getuid?.() !== 0) return async () => undefined;
  const providerName = process.env.SVCLAB_PROVIDER ?? 'netns';
  const sweep = async () => {
    await (await getProvider('netns')).sweep();
    if (providerName !== 'netns') await (await getProvider(providerName)).sweep();
  };
  await sweep();
  // Isolation: the host's root network namespace must be exactly as it was after every suite
  // in every mode has run (interfaces, routes, rules, sets, sysctls). kind and real clusters
  // change the host by design (Docker's bridge and NAT for kind's network), so the check
  // applies to the netns and docker providers (the docker provider's bridge goes with its lab).
  const checkHost = providerName === 'netns' || providerName === 'docker';
  const before = checkHost ? await hostNetworkSnapshot() : undefined;
  return async () => {
    await sweep();
    if (!before) return;
    const changes = diffSnapshots(before, await hostNetworkSnapshot());
    if (changes.length > 0)
      throw new Error(
        `the e2e run changed the host's root network namespace:\n${changes.join('\n')}`,
      );
  };
}
