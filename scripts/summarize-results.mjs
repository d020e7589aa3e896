// Adds up the vitest JSON reports of one `npm test` run into the closing line CI reads.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.svclab/results';
let passed = 0;
let failed = 0;
let skipped = 0;
const rows = [];
for (const f of readdirSync(dir)
  .filter((x) => x.endsWith('.json'))
  .sort()) {
  const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const p = r.numPassedTests ?? 0;
  // A file that failed to load has no failed test but must still count as a failure.
  const brokenFiles = (r.testResults ?? []).filter(
    (t) => t.status === 'failed' && !(t.assertionResults ?? []).some((a) => a.status === 'failed'),
  ).length;
  const x = (r.numFailedTests ?? 0) + brokenFiles;
  const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  passed += p;
  failed += x;
  skipped += s;
  rows.push(`  ${f.replace(/\.json$/, '').padEnd(36)} ${p} passed, ${x} failed, ${s} skipped`);
}
console.log(rows.join('\n'));
console.log(`svclab: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
