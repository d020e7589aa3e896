/** What the server side needs to know: who it is and whether it is draining. */
export interface ServerState {
  hostname: string;
  /** Set by SIGTERM or a `drain` request: /readyz answers 503, everything else keeps serving. */
  draining: boolean;
  /** Readiness as a probe would see it (`--not-ready`, `set-ready`): /readyz answers 503 when false. */
  ready: boolean;
  log(line: string): void;
}

/**
 * Binds the wildcard the way agnhost does (Go's ":port" is dual-stack): `::` accepting IPv4
 * too, or `0.0.0.0` where the namespace has IPv6 disabled.
 */
export async function listenDualStack(
  listen: (host: string, ipv6Only: boolean) => Promise<void>,
): Promise<void> {
  try {
    await listen('::', false);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
    await listen('0.0.0.0', false);
  }
}
