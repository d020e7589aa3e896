/**
 * Socket address formatting shared by the server side (what `/clientip` answers) and the client
 * side (parsing that answer). Go's net.Addr.String(), which agnhost prints, brackets IPv6 and
 * shows IPv4 peers of a dual-stack socket as plain IPv4; so do we.
 */

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) -> `10.0.0.1`. */
export function normalizeIP(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice('::ffff:'.length) : ip;
}

/** `10.0.0.1:1234` or `[fd00::1]:1234`, as Go's net.JoinHostPort. */
export function joinHostPort(ip: string, port: number): string {
  const host = normalizeIP(ip);
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses `ip:port` / `[ip6]:port`; undefined when the text is not one. */
export function splitHostPort(text: string): { ip: string; port: number } | undefined {
  const s = text.trim();
  let ip: string;
  let portText: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']:');
    if (end < 0) return undefined;
    ip = s.slice(1, end);
    portText = s.slice(end + 2);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon <= 0 || s.indexOf(':') !== colon) return undefined;
    ip = s.slice(0, colon);
    portText = s.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535 || ip.length === 0) return undefined;
  return { ip: normalizeIP(ip), port };
}
