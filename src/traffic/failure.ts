import type { FailureKind } from './protocol.js';

/**
 * Maps a socket error to the words a dataplane engineer uses. The mapping follows what the
 * kernel reports: a TCP RST to a SYN and an ICMP port unreachable on a connected UDP socket both
 * surface as ECONNREFUSED (a Service without endpoints must be *rejected*, not black-holed); an
 * ICMP host/net unreachable as EHOSTUNREACH/ENETUNREACH; a RST on an established connection as
 * ECONNRESET (or EPIPE when we were writing).
 */
export function classifyError(err: unknown): { failure: FailureKind; detail: string } {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return { failure: 'refused', detail: code };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { failure: 'unreachable', detail: code };
    case 'ECONNRESET':
    case 'EPIPE':
      return { failure: 'reset', detail: code };
    case 'ETIMEDOUT':
      return { failure: 'timeout', detail: code };
    default:
      return {
        failure: 'error',
        detail: typeof code === 'string' ? `${code}: ${message}` : message,
      };
  }
}

/** An error raised by our own deadline (not the kernel's ETIMEDOUT). */
export class DeadlineError extends Error {
  readonly code = 'DEADLINE';
  constructor(readonly phase: string) {
    super(phase);
  }
}

export function failureOf(err: unknown): { failure: FailureKind; detail: string } {
  if (err instanceof DeadlineError) return { failure: 'timeout', detail: err.phase };
  return classifyError(err);
}
