import type { L4 } from './protocol.js';

export interface AgentOptions {
  lab: string;
  name: string;
  hostname: string;
  /** Unix socket path of the control channel. */
  control: string;
  listen: { protocol: L4; port: number }[];
  /** After SIGTERM, keep serving (with /readyz 503) this long, then exit (agnhost --delay-shutdown). */
  delayShutdownMs: number;
  /** Starts not ready (`--not-ready`): a pod whose readiness probe fails until told otherwise. */
  ready: boolean;
}

export const USAGE =
  'usage: agent --lab <lab> --name <name> --hostname <hostname> --control <unix socket path> ' +
  '[--listen tcp:8080,udp:8081,...] [--delay-shutdown <seconds>] [--not-ready]';

/** Linux sun_path is 108 bytes including the terminating NUL. */
const MAX_UNIX_PATH_BYTES = 107;
const DEFAULT_DELAY_SHUTDOWN_MS = 1000;

/** Parses `tcp:8080,udp:8081`; port 0 asks the kernel for a free port (see `info`). */
export function parseListen(spec: string): { protocol: L4; port: number }[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((item) => {
      const m = /^(tcp|udp):(\d{1,5})$/.exec(item);
      const port = Number(m?.[2]);
      if (!m || port > 65535)
        throw new Error(`bad --listen item ${JSON.stringify(item)}: want tcp:<port> or udp:<port>`);
      return { protocol: m[1] as L4, port };
    });
}

/** Parses argv (without node and the script); throws an Error naming the problem. */
export function parseAgentArgs(argv: string[]): AgentOptions {
  const values = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    let key: string;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      key = arg.slice(2, eq);
      value = arg.slice(eq + 1);
    } else if (arg === '--not-ready') {
      // The one boolean flag: takes no value.
      key = 'not-ready';
      value = 'true';
    } else if (arg.startsWith('--')) {
      key = arg.slice(2);
      value = argv[++i];
    } else {
      throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    }
    if (
      !['lab', 'name', 'hostname', 'control', 'listen', 'delay-shutdown', 'not-ready'].includes(key)
    ) {
      throw new Error(`unknown flag --${key}`);
    }
    if (value === undefined) throw new Error(`--${key} needs a value`);
    values.set(key, [...(values.get(key) ?? []), value]);
  }
  const one = (key: string): string => {
    const v = values.get(key);
    if (!v || v[0] === '') throw new Error(`--${key} is required`);
    return v[v.length - 1] as string;
  };
  const control = one('control');
  if (Buffer.byteLength(control) > MAX_UNIX_PATH_BYTES) {
    throw new Error(
      `--control path is longer than ${MAX_UNIX_PATH_BYTES} bytes (a Unix socket limit): ${control}`,
    );
  }
  const listen = (values.get('listen') ?? []).flatMap(parseListen);
  const seen = new Set<string>();
  for (const l of listen) {
    const key = `${l.protocol}:${l.port}`;
    if (l.port !== 0 && seen.has(key)) throw new Error(`--listen ${key} given twice`);
    seen.add(key);
  }
  let delayShutdownMs = DEFAULT_DELAY_SHUTDOWN_MS;
  const delay = values.get('delay-shutdown');
  if (delay) {
    const seconds = Number(delay[delay.length - 1]);
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 3600) {
      throw new Error(
        `--delay-shutdown wants seconds in [0, 3600], got ${JSON.stringify(delay.at(-1))}`,
      );
    }
    delayShutdownMs = Math.round(seconds * 1000);
  }
  return {
    lab: one('lab'),
    name: one('name'),
    hostname: one('hostname'),
    control,
    listen,
    delayShutdownMs,
    ready: !values.has('not-ready'),
  };
}
