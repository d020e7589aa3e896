// Links the compiled CLI (dist/cli/main.js, from tsc) into dist/cli/bundle/: one chunk per
// command plus shared chunks, with commander, yaml and zod inlined. A short command then loads a
// handful of files instead of ~150 modules (zod alone is 95), which is most of the difference
// between `svclab validate` and a bare `node -e 0` (issue 17). Every other package stays
// external: the heavy ones load only when a command imports them.
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
