import { describe, expect, it } from 'vitest';
import { parseIpvsRealServers } from './lab-state.js';

describe('parseIpvsRealServers', () => {
  it('reads address and weight of each real server of `ipvsadm -Ln -u VIP:PORT`, sorted', () => {
    const text = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
UDP  10.96.17.114:81 rr
  -> 10.244.1.2:8081              Masq    0      0          1
  -> 10.244.0.2:8081              Masq    1      0          0
`;
    expect(parseIpvsRealServers(text)).toEqual([
      { address: '10.244.0.2:8081', weight: 1 },
      { address: '10.244.1.2:8081', weight: 0 },
    ]);
  });
  it('finds none in a virtual server without real servers (the header is not one)', () => {
    expect(
      parseIpvsRealServers(
        'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\nUDP  10.96.0.10:81 rr\n',
      ),
    ).toEqual([]);
  });
});
