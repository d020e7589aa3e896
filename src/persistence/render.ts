import { basename } from 'node:path';
import { columnOf, type MatrixReport, type ModeReport } from './matrix.js';
import { renderComparison } from './compare.js';
import type { EventResult } from './scenario.js';

/** One cell: stream / idle / UDP outcomes, then the update's duration and the first new connection after it. */
export function cellText(r: EventResult | undefined, failure?: string, skipped?: string): string {
  if (!r && skipped) return `skipped: ${skipped.slice(0, 80)}`;
  if (!r) return failure ? `failed: ${failure.split('\n')[0]!.slice(0, 80)}` : 'n/a';
  const f = r.flows;
  const mark = (o: string, moved: boolean, after?: string) =>
    moved && after ? `${o} (${after})` : o;
  const outcomes = [f.stream, f.conn, f.udp]
    .map((x) => mark(x.outcome, x.outcome === 'moved', x.after))
    .join(' / ');
  const nc = r.newConnection.ok
    ? `update ${r.updateMs} + new ${r.newConnection.firstOkMs} ms`
    : `update ${r.updateMs} ms, no new connection (${
        Object.entries(r.newConnection.failures)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ') || 'no attempt'
      })`;
  return `${outcomes} · ${nc}${r.pinned ? '' : ' ·¹'}`;
}

function escape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function skipReason(m: ModeReport, event: string): string | undefined {
  return m.skippedEvents?.find((x) => x.event === event)?.reason;
}

function modeHeader(m: ModeReport): string {
  return m.status === 'skipped' ? `${columnOf(m)} (skipped)` : columnOf(m);
}

/** The matrix as Markdown: rows events, columns modes; then known bugs, notes and where it ran. */
export function renderMarkdown(report: MatrixReport): string {
  const modes = report.modes;
  const lines: string[] = [];
  lines.push('# Connection persistence across updates', '');
  const kernels = [
    ...new Set(
      modes
        .filter((m) => m.status === 'ran')
        .map(
          (m) =>
            `${m.kernel} (${m.where}: ${modes
              .filter((x) => x.kernel === m.kernel && x.where === m.where && x.status === 'ran')
              .map((x) => columnOf(x))
              .join(', ')})`,
        ),
    ),
  ];
  lines.push(
    `Measured ${report.generatedAt} by \`svclab matrix\` on kernel ${kernels.join('; ') || '(no mode ran)'}, ` +
      `${report.machine.cpus} CPUs, Node ${report.machine.node}; topology \`${basename(report.topology)}\`.`,
    '',
    'Each cell: **TCP heartbeat stream / idle keep-alive TCP / UDP from a fixed source port**, for flows opened to the ' +
      'ClusterIP before the update and all talking to one endpoint (the "serving" one); then how long the update took ' +
      '(API change + proxy sync on every node; for pod deletion also the teardown of the pod) and how long after it the first new TCP connection succeeded.',
    '',
    `Outcomes: survived (same backend), moved (another backend, named), reset (RST), closed (FIN from the server), ` +
      `refused / unreachable (ICMP), stalled (nothing within ${report.watch.stallMs} ms). A stream counts as alive when ` +
      `heartbeats (every ${report.watch.heartbeatMs} ms) still arrive ${report.watch.aliveMs} ms after the update.`,
    '',
  );
  lines.push(
    `| event | ${modes.map(modeHeader).join(' | ')} |`,
    `|---|${modes.map(() => '---').join('|')}|`,
  );
  for (const e of report.events) {
    const cells = modes.map((m) => {
      if (m.status === 'skipped') return '–';
      const failure = m.failures.find((f) => f.event === e.id)?.error;
      return escape(
        cellText(
          m.events.find((r) => r.event === e.id),
          failure,
          skipReason(m, e.id),
        ),
      );
    });
    lines.push(`| ${escape(e.title)} (\`${e.id}\`) | ${cells.join(' | ')} |`);
  }
  if (modes.some((m) => m.events.some((r) => !r.pinned))) {
    lines.push(
      '',
      '¹ flows not all on one endpoint (ClientIP affinity is per Service port); each flow is judged against its own backend.',
    );
  }
  const skipped = modes.filter((m) => m.status === 'skipped');
  if (skipped.length > 0)
    lines.push('', ...skipped.map((m) => `- **${columnOf(m)}** not measured: ${m.reason}`));

  const bugRuns = modes.flatMap((m) =>
    m.knownBugs.filter((b) => b.status !== 'skipped').map((b) => ({ m, b })),
  );
  if (report.knownBugs.length > 0) {
    lines.push(
      '',
      '## Known bugs',
      '',
      `| case | issues | ${modes.map(modeHeader).join(' | ')} |`,
      `|---|---|${modes.map(() => '---').join('|')}|`,
    );
    for (const kb of report.knownBugs) {
      const cells = modes.map((m) => {
        const r = m.knownBugs.find((x) => x.id === kb.id);
        const failed = m.failures.find((f) => f.event === `known-bug:${kb.id}`);
        if (r) return r.status === 'skipped' ? '–' : `**${r.status}**: ${escape(r.summary)}`;
        return failed
          ? `failed: ${escape(failed.error.slice(0, 80))}`
          : m.status === 'skipped'
            ? '–'
            : 'n/a';
      });
      lines.push(
        `| ${escape(kb.title)} (\`${kb.id}\`) | ${kb.issues.map((n) => `[#${n}](https://github.com/kubernetes/kubernetes/issues/${n})`).join(', ')} | ${cells.join(' | ')} |`,
      );
    }
    if (bugRuns.length > 0) {
      lines.push('', '### Evidence', '');
      for (const { m, b } of bugRuns) {
        lines.push(
          `**${b.id}** on ${columnOf(m)} (kernel ${m.kernel}): ${b.status}`,
          '',
          '```',
          ...b.evidence,
          '```',
          '',
        );
      }
    }
  }
  const notes = modes.flatMap((m) =>
    m.events.flatMap((r) => r.notes.map((n) => `- ${columnOf(m)}, ${r.event}: ${n}`)),
  );
  const failures = modes.flatMap((m) =>
    m.failures.map((f) => `- ${columnOf(m)}, ${f.event}: ${f.error}`),
  );
  if (notes.length > 0) lines.push('', '## Sync notes', '', ...notes);
  if (failures.length > 0) lines.push('', '## Failures', '', ...failures);
  lines.push(
    '',
    '## Runs',
    '',
    '| mode | proxy | kernel | where | labs (bring-up ms) | duration |',
    '|---|---|---|---|---|---|',
  );
  for (const m of modes)
    lines.push(
      `| ${columnOf(m)} | ${m.kubeProxyBinary ? `kube-proxy ${m.kubeVersion ?? ''} (\`${m.kubeProxyBinary}\`)` : `svclab ${m.proxy}`} | ${m.kernel} | ${m.where} | ${m.labUpMs.join(', ') || '–'} | ${(m.durationMs / 1000).toFixed(1)} s |`,
    );
  if (modes.filter((m) => m.variant).length > 1) lines.push('', renderComparison(report).trimEnd());
  return lines.join('\n') + '\n';
}

/** A terminal table of the same matrix (rows events, columns modes). */
export function renderText(report: MatrixReport): string {
  const modes = report.modes;
  const rows = report.events.map((e) => [
    e.id,
    ...modes.map((m) =>
      m.status === 'skipped'
        ? 'skipped'
        : cellText(
            m.events.find((r) => r.event === e.id),
            m.failures.find((f) => f.event === e.id)?.error,
            skipReason(m, e.id),
          ),
    ),
  ]);
  const header = ['EVENT', ...modes.map((m) => columnOf(m).toUpperCase())];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ');
  const bugs = modes.flatMap((m) =>
    m.knownBugs
      .filter((b) => b.status !== 'skipped')
      .map(
        (b) =>
          `${columnOf(m)}: ${b.id} (${b.issues.map((n) => `#${n}`).join(', ')}): ${b.status}: ${b.summary}`,
      ),
  );
  return (
    [
      fmt(header),
      ...rows.map(fmt),
      '',
      'cells: TCP stream / idle TCP / UDP · update duration + first new TCP connection after it',
      ...(bugs.length ? ['', ...bugs] : []),
    ].join('\n') + '\n'
  );
}
