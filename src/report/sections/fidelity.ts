import { FIDELITY_STATUSES, type FidelityReport } from '../fidelity.js';
import { markup, table, type Html } from '../html.js';
import type { Found } from '../inputs.js';

/**
 * svclab's planners against the real kube-proxy (issue 15): per mode how many Service ports are
 * identical, differ deliberately (declared) or differ; then every difference with its first lines.
 */
export function fidelitySection(input: Found<FidelityReport>): Html {
  const head = markup`<h2>Fidelity: svclab's planners against kube-proxy</h2>`;
  if (!input.found)
    return markup`${head}
      <p class="missing" id="fidelity-missing">no fidelity report found at ${input.path}</p>`;
  const r = input.value;
  const modes = [...new Set(r.results.map((x) => x.mode))];
  const summary = table({
    id: 'fidelity-summary',
    caption: 'Service ports compared, per mode',
    head: ['mode', 'sources', 'Service ports', ...FIDELITY_STATUSES],
    rows: modes.map((mode) => {
      const of = r.results.filter((x) => x.mode === mode);
      return [
        mode,
        new Set(of.map((x) => x.source)).size,
        of.length,
        ...FIDELITY_STATUSES.map((s) => of.filter((x) => x.status === s).length),
      ];
    }),
    empty: 'the report compares nothing',
  });
  const differences = table({
    id: 'fidelity-differences',
    caption: 'Differences',
    head: ['mode', 'source', 'Service port', 'status', 'reason', 'first difference'],
    rows: r.results
      .filter((x) => x.status !== 'identical')
      .map((x) => [
        x.mode,
        x.source,
        x.servicePort,
        x.status,
        x.reason ?? '',
        { value: (x.firstDifference ?? []).join('\n'), pre: true },
      ]),
    empty: 'none: every Service port is identical',
  });
  return markup`${head}
    <p class="meta">
      ${input.path}: generated ${r.generatedAt}, against kube-proxy ${r.kubeVersion}.
    </p>
    ${summary}${differences}`;
}
