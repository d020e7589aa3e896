// The closing account of one `npm test` run (src/harness/results.ts): a line per vitest run,
// every skip with its reason, and exit 1 on a failure, on nothing passing, or on a skip that no
// declaration in src/harness/declared-skips.ts covers on this machine.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.svclab/results';
const lib = join(import.meta.dirname, '..', 'dist', 'harness', 'results.js');
if (!existsSync(lib)) {
  console.error(`svclab: cannot summarize: ${lib} missing (the build failed?)`);
  process.exit(1);
}
const { summarizeResults, formatSummary } = await import(lib);
const summary = summarizeResults(dir);
console.log(formatSummary(summary));
process.exit(summary.ok ? 0 : 1);
