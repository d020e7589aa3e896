// Links what tsc compiled into the files that start as processes (issue 17):
//  - the CLI (dist/cli/main.js) into dist/cli/bundle/: one chunk per command plus shared chunks,
//    commander, yaml and zod inlined. A short command then loads a handful of files instead of
//    ~150 modules (zod alone is 95), which was most of the difference between `svclab validate`
//    and a bare `node -e 0`. Every other package stays external: the heavy ones load only when
//    a command imports them.
//  - the agent (dist/traffic/agent.js), in place: one file instead of ~20 modules, ~25% less
//    time to ready, and a lab starts one agent per namespace (9 for three-node).
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const INLINED = ['commander', 'yaml', 'zod'];
const { dependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const outdir = join(root, 'dist', 'cli', 'bundle');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'dist', 'cli', 'main.js')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: Object.keys(dependencies).filter((d) => !INLINED.includes(d)),
  // yaml is CommonJS: its require() of Node built-ins needs a require in an ES module.
  banner: {
    js: "import { createRequire as __svclabRequire } from 'node:module';\nconst require = __svclabRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  logLevel: 'warning',
});

// The agent imports only Node built-ins, so it bundles to one self-contained file at the same
// path every provider already runs (netns, the docker and kind containers, the ConfigMap).
const agent = join(root, 'dist', 'traffic', 'agent.js');
await build({
  entryPoints: [agent],
  outfile: agent,
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
