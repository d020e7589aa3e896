import { LabError } from '../exec/index.js';
import { parseKubeVersion } from '../kube/versions.js';
import { columnOf, type KubeProxyVariant, type MatrixReport, type ModeReport } from './matrix.js';
import type { EventResult } from './scenario.js';

/**
 * The builds of the real kube-proxy a matrix runs its kube-proxy modes with: every release given
 * (`--kube-version v1.36.3,v1.37.2`) times every binary (`--kube-proxy-binary`, repeatable). No
 * release and no binary: none (the pinned release, one column per mode).
 */
export function kubeProxyVariants(
  versions: string | undefined,
  binaries: readonly string[] | undefined,
): KubeProxyVariant[] {
  const vs = (versions ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean)
    .map((v) => parseKubeVersion(v).version);
  const bs = [...(binaries ?? [])];
  if (new Set(vs).size !== vs.length)
    throw new LabError(`--kube-version: a release is given twice`);
  if (new Set(bs).size !== bs.length)
    throw new LabError(`--kube-proxy-binary: a binary is given twice`);
  if (vs.length === 0 && bs.length === 0) return [];
  const out: KubeProxyVariant[] = [];
  for (const v of vs.length ? vs : [undefined])
    for (const b of bs.length ? bs : [undefined])
      out.push({
        label: [v, b].filter(Boolean).join('+'),
        kubeVersion: v,
        kubeProxyBinary: b,
      });
  return out;
}

/** What a kube-proxy developer compares between two builds: outcomes, not timings (noisy here). */
function eventVerdict(r: EventResult | undefined, failure: string | undefined): string {
  if (!r) return failure ? `failed: ${failure.split('\n')[0]!.slice(0, 100)}` : 'not run';
  const f = r.flows;
  return (
    `stream ${f.stream.outcome}, idle ${f.conn.outcome}, udp ${f.udp.outcome}; ` +
    `new connection ${r.newConnection.ok ? 'ok' : 'failed'}`
  );
}

export interface VariantDifference {
  mode: string;
  /** An event id, or `known-bug:<id>`. */
  item: string;
  /** Column → verdict. */
  verdicts: Record<string, string>;
}

/**
 * Per kube-proxy mode run with several builds: every event and known-bug case whose verdict is
 * not the same for all of them. Timings are listed beside (ratio) but never counted as a
 * difference: one noisy machine is not a regression.
 */
export function compareVariants(report: MatrixReport): VariantDifference[] {
  const byMode = new Map<string, ModeReport[]>();
  for (const m of report.modes)
    if (m.variant && m.status === 'ran') byMode.set(m.mode, [...(byMode.get(m.mode) ?? []), m]);
  const diffs: VariantDifference[] = [];
  for (const [mode, runs] of byMode) {
    if (runs.length < 2) continue;
    const items: [string, (m: ModeReport) => string][] = [
      ...report.events.map(
        (e) =>
          [
            e.id,
            (m: ModeReport) =>
              eventVerdict(
                m.events.find((r) => r.event === e.id),
                m.failures.find((f) => f.event === e.id)?.error,
              ),
          ] as [string, (m: ModeReport) => string],
      ),
      ...report.knownBugs.map(
        (b) =>
          [
            `known-bug:${b.id}`,
            (m: ModeReport) => {
              const r = m.knownBugs.find((x) => x.id === b.id);
              if (r) return r.status;
              const f = m.failures.find((x) => x.event === `known-bug:${b.id}`);
              return f ? `failed: ${f.error.split('\n')[0]!.slice(0, 100)}` : 'not run';
            },
          ] as [string, (m: ModeReport) => string],
      ),
    ];
    for (const [item, verdict] of items) {
      const verdicts = Object.fromEntries(runs.map((m) => [columnOf(m), verdict(m)]));
      if (new Set(Object.values(verdicts)).size > 1) diffs.push({ mode, item, verdicts });
    }
  }
  return diffs;
}

/** The comparison as Markdown: what differs between the builds, then the update times side by side. */
export function renderComparison(report: MatrixReport): string {
  const runs = report.modes.filter((m) => m.variant && m.status === 'ran');
  const lines = ['## What differs between the kube-proxy builds', ''];
  if (runs.length < 2)
    return [...lines, 'Fewer than two builds ran: nothing to compare.', ''].join('\n');
  const builds = runs
    .map(
      (m) => `\`${columnOf(m)}\` (kube-proxy ${m.kubeProxyBinary ?? '?'}, ${m.kubeVersion ?? '?'})`,
    )
    .join(', ');
  lines.push(`Builds: ${builds}.`, '');
  const diffs = compareVariants(report);
  if (diffs.length === 0) lines.push('No event or known-bug case has a different outcome.', '');
  else {
    const cols = [...new Set(diffs.flatMap((d) => Object.keys(d.verdicts)))];
    lines.push(
      `| mode | case | ${cols.join(' | ')} |`,
      `|---|---|${cols.map(() => '---').join('|')}|`,
    );
    for (const d of diffs)
      lines.push(
        `| ${d.mode} | \`${d.item}\` | ${cols.map((c) => (d.verdicts[c] ?? '–').replace(/\|/g, '\\|')).join(' | ')} |`,
      );
    lines.push('');
  }
  // Update duration per event (API write to the end of the sync on every node), as measured.
  const cols = runs.map(columnOf);
  lines.push(
    '| update duration (ms) | ' + cols.join(' | ') + ' |',
    `|---|${cols.map(() => '---').join('|')}|`,
  );
  for (const e of report.events)
    lines.push(
      `| \`${e.id}\` | ${runs.map((m) => String(m.events.find((r) => r.event === e.id)?.updateMs ?? '–')).join(' | ')} |`,
    );
  return lines.join('\n') + '\n';
}
