// Records that scripts/test.sh left a whole run out (no dockerd, SVCLAB_SKIP_IPVS...), judged
// against src/harness/declared-skips.ts like any skip inside a test file, so the summary lists
// it and fails when the machine could have run it.
import { parseArgs } from 'node:util';
import { join } from 'node:path';

const { values: o } = parseArgs({
  options: {
    dir: { type: 'string' },
    run: { type: 'string' },
    cause: { type: 'string' },
    reason: { type: 'string' },
    provider: { type: 'string' },
    proxy: { type: 'string' },
    mode: { type: 'string' },
  },
});
for (const k of ['dir', 'run', 'cause', 'reason'])
  if (!o[k]) {
    console.error(`record-skip: --${k} is required`);
    process.exit(2);
  }
const { judgeSkip, appendSkipRecord, skipLogOf } = await import(
  join(import.meta.dirname, '..', 'dist', 'harness', 'skip-log.js')
);
const record = judgeSkip({
  suite: `run:${o.run}`,
  cause: o.cause,
  reason: o.reason,
  provider: o.provider,
  proxy: o.proxy,
  mode: o.mode,
});
appendSkipRecord(record, skipLogOf(o.dir, o.run));
console.log(
  `svclab: ${o.run} not run: ${o.reason}${record.declared ? '' : ' [not a declared skip]'}`,
);
