#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ and linked into dist/cli/bundle/ by `npm run build`
// (the agent must start fast, so nothing runs through a TypeScript loader at run time; short
// commands must too, so they load one bundle chunk, not every module: scripts/bundle.mjs).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'dist', 'cli', 'bundle', 'main.js');
if (!existsSync(main)) {
  console.error(`svclab is not built (${main} missing): run \`npm run build\` in ${root}`);
  process.exit(1);
}
await import(main);
