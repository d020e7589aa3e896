import { basename } from 'node:path';
import type { MatrixReport, ModeReport } from '../../persistence/matrix.js';
import { cellText } from '../../persistence/render.js';
import { markup, table, type Html } from '../html.js';
import type { Found } from '../inputs.js';

function modeHeader(m: ModeReport): string {
  return m.status === 'skipped' ? `${m.mode} (skipped)` : m.mode;
}

const issueLink = (n: number) =>
  markup`<a href="https://github.com/kubernetes/kubernetes/issues/${n}">#${n}</a>`;

/**
 * The persistence matrix (rows events, columns modes) with the same cell text as its Markdown
 * (src/persistence/render.ts), then the known-bug cases and where each mode ran.
 */
export function matrixSection(input: Found<MatrixReport>): Html {
  const head = markup`<h2>Connection persistence across updates</h2>`;
  if (!input.found)
    return markup`${head}
      <p class="missing" id="persistence-missing">
        no persistence matrix found at ${input.path} (svclab matrix --out writes one)
      </p>`;
  const r = input.value;
  const modes = r.modes;
  const matrix = table({
    id: 'persistence-matrix',
    caption: 'Persistence matrix: TCP stream / idle TCP / UDP · update + first new connection',
    head: ['event', ...modes.map(modeHeader)],
    rows: r.events.map((e) => [
      `${e.title} (${e.id})`,
      ...modes.map((m) =>
        m.status === 'skipped'
          ? '–'
          : cellText(
              m.events.find((x) => x.event === e.id),
              m.failures.find((f) => f.event === e.id)?.error,
              m.skippedEvents?.find((x) => x.event === e.id)?.reason,
            ),
      ),
    ]),
  });
  const knownBugs = table({
    id: 'persistence-known-bugs',
    caption: 'Known bugs',
    head: ['case', 'issues', ...modes.map(modeHeader)],
    rows: r.knownBugs.map((kb) => [
      `${kb.title} (${kb.id})`,
      markup`${kb.issues.map((n, i) => markup`${i > 0 ? ', ' : ''}${issueLink(n)}`)}`,
      ...modes.map((m) => {
        const res = m.knownBugs.find((x) => x.id === kb.id);
        if (res) return res.status === 'skipped' ? '–' : `${res.status}: ${res.summary}`;
        const failed = m.failures.find((f) => f.event === `known-bug:${kb.id}`);
        return failed ? `failed: ${failed.error}` : m.status === 'skipped' ? '–' : 'n/a';
      }),
    ]),
    empty: 'none were run',
  });
  const evidence = modes.flatMap((m) =>
    m.knownBugs
      .filter((b) => b.status !== 'skipped')
      .map(
        (b) =>
          markup`<details>
            <summary>${b.id} on ${m.mode} (kernel ${m.kernel}): ${b.status}</summary>
            <pre>${b.evidence.join('\n')}</pre>
          </details> `,
      ),
  );
  const runs = table({
    id: 'persistence-runs',
    caption: 'Where each mode ran',
    head: ['mode', 'kernel', 'where', 'labs (bring-up ms)', 'duration'],
    rows: modes.map((m) => [
      m.mode,
      m.kernel,
      m.where,
      m.labUpMs.join(', ') || '–',
      `${(m.durationMs / 1000).toFixed(1)} s`,
    ]),
  });
  const skipped = modes.filter((m) => m.status === 'skipped');
  const failures = modes.flatMap((m) => m.failures.map((f) => ({ m, f })));
  return markup`${head}
    <p class="meta">
      ${input.path}: measured ${r.generatedAt} by svclab matrix, ${r.machine.cpus} CPUs, Node
      ${r.machine.node}; topology ${basename(r.topology)}. Outcomes: survived (same backend), moved
      (another backend, named), reset, closed (FIN from the server), refused / unreachable (ICMP),
      stalled.
    </p>
    ${matrix}${
      modes.some((m) => m.events.some((e) => !e.pinned))
        ? markup`<p class="note">
            ¹ flows not all on one endpoint (ClientIP affinity is per Service port); each flow is
            judged against its own backend.
          </p>`
        : ''
    }${
      skipped.length > 0
        ? markup`<ul class="note">
            ${skipped.map((m) => markup`<li>${m.mode} not measured: ${m.reason ?? ''}</li>`)}
          </ul>`
        : ''
    }${knownBugs}${evidence}${
      failures.length > 0
        ? markup`<h3>Failures</h3>
            <ul>
              ${failures.map(({ m, f }) => markup`<li><pre>${m.mode}, ${f.event}: ${f.error}</pre></li>`)}
            </ul>`
        : ''
    }${runs}`;
}
