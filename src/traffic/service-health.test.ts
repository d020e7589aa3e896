import { describe, expect, it } from 'vitest';
import { healthAnswer } from './service-health.js';
import { parseControlLine } from './protocol.js';

describe("healthAnswer (kube-proxy's hcHandler.ServeHTTP)", () => {
  it('200 with local endpoints, the count in X-Load-Balancing-Endpoint-Weight and the JSON body', () => {
    const a = healthAnswer({ namespace: 'default', name: 'web-local' }, 2, true);
    expect(a.status).toBe(200);
    expect(a.headers).toEqual({
      'Content-Type': 'application/json',
      'X-Content-Type-Options': 'nosniff',
      'X-Load-Balancing-Endpoint-Weight': '2',
    });
    // Byte for byte what the Go template gives after dedent and Trim("\n").
    expect(a.body).toBe(
      '{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "web-local"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}',
    );
    expect(JSON.parse(a.body)).toEqual({
      service: { namespace: 'default', name: 'web-local' },
      localEndpoints: 2,
      serviceProxyHealthy: true,
    });
  });

  it('503 without local endpoints, and with an unhealthy proxy whatever the count', () => {
    expect(healthAnswer({ namespace: 'a', name: 'b' }, 0, true).status).toBe(503);
    const unhealthy = healthAnswer({ namespace: 'a', name: 'b' }, 3, false);
    expect(unhealthy.status).toBe(503);
    expect(unhealthy.headers['X-Load-Balancing-Endpoint-Weight']).toBe('3');
  });
});

describe('health-check-sync and http-get requests', () => {
  it('validates the Services and the path', () => {
    const ok = parseControlLine(
      JSON.stringify({
        op: 'health-check-sync',
        serviceProxyHealthy: true,
        services: [{ namespace: 'default', name: 'web', port: 32000, localEndpoints: 1 }],
      }),
    );
    expect(ok.ok).toBe(true);
    const bad = parseControlLine(
      JSON.stringify({
        op: 'health-check-sync',
        serviceProxyHealthy: true,
        services: [{ namespace: 'default', name: 'web', port: 70000, localEndpoints: 1 }],
      }),
    );
    expect(bad).toMatchObject({ ok: false, error: expect.stringContaining('"port"') });
    const path = parseControlLine(
      JSON.stringify({ op: 'http-get', host: 'h', port: 1, path: 'x' }),
    );
    expect(path).toMatchObject({ ok: false, error: expect.stringContaining('"path"') });
  });
});
