import type { ExecResult } from '../../exec/index.js';
import type { NodeContext } from '../../proxy/types.js';

/** GNU time (Debian package `time`), not the shell keyword: it reports rusage of the child. */
export const GNU_TIME = '/usr/bin/time';
const MARK = '@@svclab-rusage';
/** The exec module's default command deadline. */
const DEFAULT_TIMEOUT_MS = 60_000;
/** `%U %S %M`: user and system CPU seconds, maximum resident set size in KiB. */
const FORMAT = `${MARK} %U %S %M`;

/** What the programming processes of one sync cost (summed; RSS is the largest one). */
export interface ProcessCost {
  commands: number;
  userMs: number;
  sysMs: number;
  maxRssKiB: number;
  /** Wall time spent inside commands (ms), as the exec module measured it. */
  wallMs: number;
}

export function emptyCost(): ProcessCost {
  return { commands: 0, userMs: 0, sysMs: 0, maxRssKiB: 0, wallMs: 0 };
}

/**
 * Splits GNU time's report off a command's stderr. On failure GNU time also writes
 * "Command exited with non-zero status N" before its format line; both are removed, so callers
 * that match on stderr (e.g. "File exists") see the command's own output.
 */
export function parseRusage(stderr: string): {
  rusage?: { userMs: number; sysMs: number; maxRssKiB: number };
  stderr: string;
} {
  const idx = stderr.lastIndexOf(MARK);
  if (idx < 0) return { stderr };
  const line = stderr.slice(idx).split('\n')[0]!;
  const [, u, s, m] = line.split(/\s+/);
  let rest = stderr.slice(0, idx);
  rest = rest.replace(/Command (exited with non-zero status \d+|terminated by signal \d+)\n$/, '');
  rest += stderr.slice(idx + line.length + 1);
  const rusage = { userMs: Number(u) * 1000, sysMs: Number(s) * 1000, maxRssKiB: Number(m) };
  if (![rusage.userMs, rusage.sysMs, rusage.maxRssKiB].every(Number.isFinite)) return { stderr };
  return { rusage, stderr: rest };
}

/**
 * A NodeContext whose every command runs under GNU time, so a benchmark can attribute CPU time
 * and peak memory to the processes a sync spawned (iptables-restore, nft, ipvsadm, ipset...).
 * The proxy under test is unchanged: it sees the same results, minus GNU time's line.
 */
export class RusageContext {
  private cost = emptyCost();
  readonly ctx: NodeContext;

  /**
   * `deadline()` (epoch ms) replaces the exec module's default 60 s command deadline when it is
   * later: a benchmark wants to know how long iptables-restore takes at 10,000 Services, not
   * that it took more than a minute.
   */
  constructor(inner: NodeContext, deadline?: () => number) {
    this.ctx = {
      ...inner,
      exec: async (file, args, opts) => {
        const timeoutMs =
          opts?.timeoutMs ?? Math.max(DEFAULT_TIMEOUT_MS, (deadline?.() ?? 0) - Date.now());
        const r: ExecResult = await inner.exec(GNU_TIME, ['-f', FORMAT, file, ...args], {
          ...opts,
          timeoutMs,
        });
        const parsed = parseRusage(r.stderr);
        this.cost.commands++;
        this.cost.wallMs += r.durationMs;
        if (parsed.rusage) {
          this.cost.userMs += parsed.rusage.userMs;
          this.cost.sysMs += parsed.rusage.sysMs;
          this.cost.maxRssKiB = Math.max(this.cost.maxRssKiB, parsed.rusage.maxRssKiB);
        }
        // argv as the proxy asked for it: errors and command logs name the real program.
        const argv = r.argv.filter(
          (a, i) => !(a === GNU_TIME || (r.argv[i - 1] === GNU_TIME && a === '-f') || a === FORMAT),
        );
        return { ...r, argv, stderr: parsed.stderr };
      },
    };
  }

  /** The cost accumulated since the last take(), and a fresh start. */
  take(): ProcessCost {
    const c = this.cost;
    this.cost = emptyCost();
    return c;
  }
}
