/** How progress is shown: a live task list on a terminal, plain lines in CI and logs, or nothing. */
export type ProgressOutput = 'tty' | 'plain' | 'silent';

export function defaultProgressOutput(): ProgressOutput {
  return process.stderr.isTTY && !process.env.CI ? 'tty' : 'plain';
}

export interface Phase {
  title: string;
  /** May return a short detail shown after the title when the phase is done. */
  run: () => Promise<string | void>;
}

/**
 * Runs named phases in order (validate → provision → start agents → install proxy → ready, as
 * kind's create actions do), stopping at the first failure, and returns each phase's duration.
 */
export async function runPhases(
  phases: Phase[],
  output: ProgressOutput,
): Promise<Record<string, number>> {
  const timings: Record<string, number> = {};
  const timed = async (p: Phase) => {
    const t0 = performance.now();
    const detail = await p.run();
    timings[p.title] = Math.round(performance.now() - t0);
    return detail;
  };
  if (output === 'tty') {
    // Loaded only for a live task list: plain and silent runs (CI, --json, the harness) skip it.
    const { Listr } = await import('listr2');
    await new Listr(
      phases.map((p) => ({
        title: p.title,
        task: async (_ctx: unknown, task: { title: string }) => {
          const detail = await timed(p);
          task.title = `${p.title}${detail ? `: ${detail}` : ''} (${timings[p.title]} ms)`;
        },
      })),
      {
        concurrent: false,
        exitOnError: true,
        rendererOptions: { collapseErrors: false },
        registerSignalListeners: false,
      },
    ).run();
    return timings;
  }
  for (const p of phases) {
    if (output === 'plain') process.stderr.write(`svclab: ${p.title}...\n`);
    const detail = await timed(p);
    if (output === 'plain')
      process.stderr.write(
        `svclab: ${p.title}: done${detail ? `, ${detail}` : ''} (${timings[p.title]} ms)\n`,
      );
  }
  return timings;
}
