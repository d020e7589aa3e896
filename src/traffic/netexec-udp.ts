import dgram from 'node:dgram';
import { joinHostPort } from './addr.js';
import type { ServerState } from './server-state.js';
import { listenDualStack } from './server-state.js';

/** agnhost reads into a 2048-byte buffer; longer datagrams are truncated the same way. */
const MAX_COMMAND_BYTES = 2048;

/**
 * The answer to one datagram, as agnhost netexec's UDP server gives it: the text is trimmed
 * and lower-cased (so `echo` answers lower-case too), then `hostname`, `echo <msg>` and
 * `clientip` (`ip:port`). agnhost ignores other commands; we answer an error string so a
 * mistyped command is visible rather than looking like packet loss. Empty datagrams get nothing.
 */
export function udpAnswer(datagram: Buffer, peer: string, hostname: string): string | undefined {
  const command = datagram.subarray(0, MAX_COMMAND_BYTES).toString('utf8').trim().toLowerCase();
  if (command === '') return undefined;
  if (command === 'hostname') return hostname;
  if (command === 'clientip') return peer;
  if (command === 'echo') return '';
  if (command.startsWith('echo ')) return command.slice('echo '.length);
  const shown = JSON.stringify(command.slice(0, 64).replace(/[^\x20-\x7e]/g, '?'));
  return `error: unknown command ${shown} (known: hostname, echo <msg>, clientip)`;
}

export async function startUdpServer(port: number, state: ServerState): Promise<dgram.Socket> {
  let socket: dgram.Socket | undefined;
  await listenDualStack(
    (host, ipv6Only) =>
      new Promise<void>((resolve, reject) => {
        const s = dgram.createSocket({ type: host === '::' ? 'udp6' : 'udp4', ipv6Only });
        s.once('error', (err) => {
          s.close();
          reject(err);
        });
        s.bind(port, host, () => {
          s.removeAllListeners('error');
          socket = s;
          resolve();
        });
      }),
  );
  const sock = socket as dgram.Socket;
  const bound = sock.address().port;
  sock.on('error', (err) => state.log(`udp :${bound} error: ${err.message}`));
  sock.on('message', (msg, rinfo) => {
    const answer = udpAnswer(msg, joinHostPort(rinfo.address, rinfo.port), state.hostname);
    if (answer === undefined) return;
    sock.send(answer, rinfo.port, rinfo.address, (err) => {
      if (err)
        state.log(`udp :${bound} reply to ${rinfo.address}:${rinfo.port} failed: ${err.message}`);
    });
  });
  return sock;
}
