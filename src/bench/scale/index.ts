export {
  runScaleBench,
  DEFAULT_SERVICES,
  DEFAULT_BUDGET_SECONDS,
  QUICK_BUDGET_SECONDS,
  QUICK_MAX_SERVICES,
  type ScaleBenchOptions,
} from './run.js';
export { writeScaleReport, readScaleReport, chartsOf, REPORT_FILES } from './write.js';
export { mergeReports } from './merge.js';
export { SCALE_MODES, parseScaleModes, type ScaleMode } from './modes.js';
export {
  scaleReportSchema,
  toCsv,
  toRows,
  METRICS,
  type ScaleReport,
  type ScaleCell,
  type Row,
  type Environment,
} from './report.js';
export { toMarkdown } from './markdown.js';
export { renderLineChart, type LineChart, type Series } from './svg.js';
export { scaleState, scaleMutations, type ScaleStateOptions } from './state.js';
