import { SCALE_MODES } from './modes.js';
import { seriesOf, toRows, type Environment, type ScaleCell, type ScaleReport } from './report.js';

/**
 * A full run skips the cells its budget cannot hold (nftables with kube-proxy's maps at
 * 50,000 Services alone takes minutes of kernel time on 6.18). A second run of just those
 * cells is merged into the first: cells that ran there (ok or failed) replace the first run's
 * cells of the same mode and N, and the report says which cells came from where.
 */
export function mergeReports(base: ScaleReport, extra: ScaleReport): ScaleReport {
  const key = (c: Pick<ScaleCell, 'mode' | 'kubeVersion' | 'services'>) =>
    `${c.mode}\u0000${c.kubeVersion ?? ''}\u0000${c.services}`;
  const ran = new Map(extra.cells.filter((c) => c.status !== 'skipped').map((c) => [key(c), c]));
  // A cell both runs skipped keeps the second run's reason: it was predicted from more data.
  const skipped = new Map(
    extra.cells.filter((c) => c.status === 'skipped').map((c) => [key(c), c]),
  );
  const cells = base.cells.map(
    (c) => ran.get(key(c)) ?? (c.status === 'skipped' ? skipped.get(key(c)) : undefined) ?? c,
  );
  for (const c of ran.values()) if (!base.cells.some((b) => key(b) === key(c))) cells.push(c);
  cells.sort(
    (a, b) =>
      SCALE_MODES.indexOf(a.mode) - SCALE_MODES.indexOf(b.mode) ||
      (a.kubeVersion ?? '').localeCompare(b.kubeVersion ?? '') ||
      a.services - b.services,
  );

  // Rows take their environment by `where`: a second run must have been made on the same
  // kind of environment, or its rows would be labelled with the first run's kernel.
  const environments: Environment[] = [...base.environments];
  for (const e of extra.environments) {
    const same = environments.find((b) => b.where === e.where);
    if (!same) environments.push(e);
    else if (same.kernel !== e.kernel || same.emulated !== e.emulated)
      throw new RangeError(
        `cannot merge: the ${e.where} part ran on kernel ${e.kernel}${e.emulated ? ' (TCG)' : ''}, the base report's on ${same.kernel}${same.emulated ? ' (TCG)' : ''}`,
      );
  }

  // A failed cell replaces the base's too (it is what that run saw): the note says it failed.
  const merged = [...ran.values()].map(
    (c) => `${seriesOf(c)} at ${c.services}${c.status === 'failed' ? ' (failed)' : ''}`,
  );
  const notes = [...base.notes];
  for (const n of extra.notes) if (!notes.includes(n)) notes.push(n);
  if (merged.length > 0)
    notes.push(
      `Merged from a second run started ${extra.startedAt} (budget ${extra.options.budgetSeconds} s, ${(extra.durationMs / 1000).toFixed(0)} s): ${merged.join(', ')}.`,
    );
  return {
    ...base,
    // The run's own duration: the merged runs' durations are in the notes.
    durationMs: base.durationMs,
    options: {
      ...base.options,
      modes: SCALE_MODES.filter(
        (m) => base.options.modes.includes(m) || extra.options.modes.includes(m),
      ),
      services: [...new Set([...base.options.services, ...extra.options.services])].sort(
        (a, b) => a - b,
      ),
      ...(base.options.kubeVersions || extra.options.kubeVersions
        ? {
            kubeVersions: [
              ...new Set([
                ...(base.options.kubeVersions ?? []),
                ...(extra.options.kubeVersions ?? []),
              ]),
            ].sort(),
          }
        : {}),
    },
    environments,
    cells,
    rows: toRows(cells, environments),
    notes,
  };
}
