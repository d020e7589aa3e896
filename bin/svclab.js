#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (the agent must start fast, so
// nothing runs through a TypeScript loader at run time).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
if (!existsSync(main)) {
  console.error(
    `svclab is not built (${main} missing): run \`npm run build\` in ${join(dirname(main), '..', '..')}`,
  );
  process.exit(1);
}
await import(main);
