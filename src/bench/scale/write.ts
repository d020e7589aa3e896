import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toMarkdown } from './markdown.js';
import { LabError } from '../../exec/index.js';
import { METRICS, scaleReportSchema, seriesOf, toCsv, toJson, type ScaleReport } from './report.js';
import { renderLineChart } from './svg.js';

export const REPORT_FILES = {
  json: 'scale.json',
  csv: 'scale.csv',
  markdown: 'scale.md',
  charts: 'charts',
} as const;

/**
 * One chart per metric: N (log) on x, a line per mode (and per release for kube-proxy modes);
 * emulated (VM) measurements dashed.
 */
export function chartsOf(report: ScaleReport): { file: string; svg: string }[] {
  const lines = report.options.modes.flatMap((mode) => {
    const versions = [
      ...new Set(report.cells.filter((c) => c.mode === mode).map((c) => c.kubeVersion ?? '')),
    ].sort();
    return (versions.length > 0 ? versions : ['']).map((kubeVersion) => ({ mode, kubeVersion }));
  });
  return METRICS.map((m) => {
    const series = lines.map((line) => {
      const rows = report.rows.filter(
        (r) =>
          r.mode === line.mode &&
          r.kubeVersion === line.kubeVersion &&
          r.metric === m.metric &&
          r.value !== null,
      );
      return {
        name:
          seriesOf({ mode: line.mode, kubeVersion: line.kubeVersion || undefined }) +
          (rows.some((r) => r.emulated) ? ' (TCG)' : ''),
        dashed: rows.some((r) => r.emulated),
        points: rows.map((r) => ({ x: r.services, y: r.value! })),
      };
    });
    return {
      file: `${REPORT_FILES.charts}/${m.metric}.svg`,
      svg: renderLineChart({ title: m.title, xLabel: 'Services (N)', yLabel: m.unit, series }),
    };
  });
}

/** Writes scale.json, scale.csv, scale.md and charts/*.svg into `dir`; validates the JSON first. */
export async function writeScaleReport(dir: string, report: ScaleReport): Promise<string[]> {
  const json = toJson(report);
  scaleReportSchema.parse(JSON.parse(json));
  await mkdir(join(dir, REPORT_FILES.charts), { recursive: true });
  const charts = chartsOf(report);
  const files: [string, string][] = [
    [REPORT_FILES.json, json],
    [REPORT_FILES.csv, toCsv(report.rows)],
    [REPORT_FILES.markdown, toMarkdown(report, { charts: charts.map((c) => c.file) })],
    ...charts.map((c): [string, string] => [c.file, c.svg]),
  ];
  for (const [name, text] of files) await writeFile(join(dir, name), text);
  return files.map(([name]) => join(dir, name));
}

/** Reads `dir/scale.json` (a report written by writeScaleReport), validated. */
export async function readScaleReport(dir: string): Promise<ScaleReport> {
  const file = join(dir, REPORT_FILES.json);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new LabError(`no scale report to merge into at ${file}`, { cause: err });
  }
  const parsed = scaleReportSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new LabError(
      `${file} is not a scale report: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
    );
  return parsed.data as ScaleReport;
}
