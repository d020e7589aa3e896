export {
  run,
  runInteractive,
  ipBatch,
  mapLimit,
  onCommand,
  type ExecOptions,
  type ExecResult,
  type CommandSink,
} from './exec.js';
export { ExecError, LabError, shellQuote, type CommandRecord } from './errors.js';
export { deadlineScale, scaledDeadline } from './deadlines.js';
export { pollBackoff } from './poll.js';
