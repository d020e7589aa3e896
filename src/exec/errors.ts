/** What one command did: enough to reproduce it by hand and to read why it failed. */
export interface CommandRecord {
  /** argv as run, including any `ip netns exec <ns>` prefix. */
  argv: string[];
  /** The network namespace the command ran in, or undefined for the caller's own. */
  netns: string | undefined;
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Set when the command was killed by its deadline. */
  timedOut: boolean;
}

/** Thrown by the exec module when a command fails: carries the whole record. */
export class ExecError extends Error {
  override readonly name = 'ExecError';
  constructor(
    readonly record: CommandRecord,
    options?: { cause?: unknown },
  ) {
    super(ExecError.describe(record), options);
  }

  static describe(r: CommandRecord): string {
    const where = r.netns ? ` (in netns ${r.netns})` : '';
    const how = r.timedOut ? 'timed out' : `exited with ${r.exitCode ?? 'a signal'}`;
    const output = (r.stderr || r.stdout).trim().split('\n').slice(-6).join('\n');
    return `command ${how}${where}: ${shellQuote(r.argv)}${output ? `\n${output}` : ''}`;
  }
}

/** Wraps an error with what the caller was doing, keeping the cause (kind's "failed to ..." style). */
export class LabError extends Error {
  override readonly name = 'LabError';
  constructor(message: string, options?: { cause?: unknown }) {
    const cause = options?.cause;
    super(cause instanceof Error ? `${message}: ${cause.message}` : message, options);
  }
}

export function shellQuote(argv: readonly string[]): string {
  return argv
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}
