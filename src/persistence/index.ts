/**
 * Connection persistence across updates (issue 6): long-lived flows opened before an update and
 * watched through it, per proxy mode; the behaviour matrix and the known-bug cases.
 */
export {
  EVENTS,
  EVENT_IDS,
  eventSkipReason,
  isDestructive,
  selectEvents,
  type EventContext,
  type PersistenceEvent,
} from './events.js';
export {
  DEFAULT_WATCH,
  FIXED_PORTS,
  fixedPorts,
  type WatchOptions,
  type FlowTarget,
} from './flows.js';
export {
  KNOWN_BUGS,
  KNOWN_BUG_IDS,
  runKnownBug,
  type KnownBugCase,
  type KnownBugResult,
  type KnownBugStatus,
} from './known-bugs.js';
export {
  baselineOf,
  restoreBaseline,
  flushConntrack,
  conntrackEntries,
  type Baseline,
} from './lab-state.js';
export {
  runMatrix,
  mergeReports,
  defaultTopologyFile,
  columnOf,
  type KubeProxyVariant,
  type MatrixReport,
  type ModeReport,
  type MatrixOptions,
} from './matrix.js';
export {
  MATRIX_MODES,
  modeConfig,
  needsIpvs,
  parseModes,
  matrixModeOf,
  type MatrixMode,
} from './modes.js';
export {
  compareVariants,
  kubeProxyVariants,
  renderComparison,
  type VariantDifference,
} from './compare.js';
export {
  FLOW_LABELS,
  type FlowOutcome,
  type FlowKind,
  type FlowResult,
  type NewConnectionResult,
} from './outcome.js';
export { renderMarkdown, renderText } from './render.js';
export { runEvent, flowTarget, type EventResult, type RunEventOptions } from './scenario.js';
export { runMatrixInVm, REPORT_JSON, REPORT_MD } from './vm.js';
