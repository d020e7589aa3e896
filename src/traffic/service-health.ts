import http from 'node:http';
import type { HealthCheckService, HealthCheckSyncResult } from './protocol.js';

/**
 * svclab's stand-in for kube-proxy's service health server (pkg/proxy/healthcheck/service_health.go),
 * run by a node's agent, in the node's network namespace. A load balancer asks every node, on a
 * Service's healthCheckNodePort, whether it should send that Service's traffic there
 * (externalTrafficPolicy: Local): 200 when the node has ready endpoints of the Service, 503 when
 * it has none. svclab's proxy of the node calls `sync` after each of its syncs, as kube-proxy's
 * proxiers call SyncServices and SyncEndpoints at the end of syncProxyRules.
 */

/** One answer of the health server, as hcHandler.ServeHTTP writes it. */
export interface HealthAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * hcHandler.ServeHTTP: 200 only with local endpoints and a healthy proxy. The body is the Go
 * template after dedent.Dedent and strings.Trim(…, "\n"): tab-indented, no final newline; %q of
 * a DNS name is its JSON string.
 */
export function healthAnswer(
  svc: { namespace: string; name: string },
  localEndpoints: number,
  serviceProxyHealthy: boolean,
): HealthAnswer {
  const body = [
    '{',
    '\t"service": {',
    `\t\t"namespace": ${JSON.stringify(svc.namespace)},`,
    `\t\t"name": ${JSON.stringify(svc.name)}`,
    '\t},',
    `\t"localEndpoints": ${localEndpoints},`,
    `\t"serviceProxyHealthy": ${serviceProxyHealthy}`,
    '}',
  ].join('\n');
  return {
    status: localEndpoints !== 0 && serviceProxyHealthy ? 200 : 503,
    headers: {
      'Content-Type': 'application/json',
      'X-Content-Type-Options': 'nosniff',
      'X-Load-Balancing-Endpoint-Weight': String(localEndpoints),
    },
    body,
  };
}

interface Instance {
  port: number;
  server: http.Server;
  localEndpoints: number;
}

export class ServiceHealthServer {
  private readonly services = new Map<string, Instance>();
  private serviceProxyHealthy = true;

  constructor(private readonly log: (line: string) => void) {}

  /**
   * SyncServices then SyncEndpoints: close the listeners of Services gone or moved to another
   * port, open the new ones, then set every Service's local endpoint count. A port that cannot be
   * opened is reported and retried on the next sync, as kube-proxy does (it records an event).
   */
  async sync(
    wanted: readonly HealthCheckService[],
    serviceProxyHealthy: boolean,
  ): Promise<HealthCheckSyncResult> {
    const byName = new Map(wanted.map((s) => [`${s.namespace}/${s.name}`, s]));
    for (const [nsn, inst] of this.services) {
      if (byName.get(nsn)?.port === inst.port) continue;
      this.log(`closing healthcheck ${nsn} on port ${inst.port}`);
      inst.server.close();
      inst.server.closeAllConnections();
      this.services.delete(nsn);
    }
    const errors: string[] = [];
    for (const [nsn, svc] of byName) {
      if (this.services.has(nsn)) continue;
      try {
        const server = await this.listen(svc);
        this.services.set(nsn, { port: svc.port, server, localEndpoints: 0 });
        this.log(`opened healthcheck ${nsn} on port ${svc.port}`);
      } catch (err) {
        const msg = `failed to start healthcheck "${nsn}" on port ${svc.port}: ${(err as Error).message}`;
        this.log(msg);
        errors.push(msg);
      }
    }
    for (const [nsn, inst] of this.services) inst.localEndpoints = byName.get(nsn)!.localEndpoints;
    this.serviceProxyHealthy = serviceProxyHealthy;
    return {
      listening: [...this.services].map(([nsn, i]) => ({ service: nsn, port: i.port })),
      errors,
    };
  }

  close(): void {
    for (const inst of this.services.values()) inst.server.close();
    this.services.clear();
  }

  /**
   * kube-proxy listens on every address ("0.0.0.0" for IPv4, newServiceHealthServer) unless
   * --nodeport-addresses narrows it, which svclab does not model: here, every address of the
   * node's namespace.
   */
  private listen(svc: HealthCheckService): Promise<http.Server> {
    const nsn = `${svc.namespace}/${svc.name}`;
    const server = http.createServer((req, res) => {
      const inst = this.services.get(nsn);
      // A request for a Service closed meanwhile: kube-proxy logs and writes nothing (an empty 200).
      if (!inst || inst.server !== server) {
        res.end();
        return;
      }
      const a = healthAnswer(svc, inst.localEndpoints, this.serviceProxyHealthy);
      res.writeHead(a.status, { ...a.headers, 'Content-Length': Buffer.byteLength(a.body) });
      res.end(a.body);
      req.resume();
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(svc.port, '0.0.0.0', () => {
        server.off('error', reject);
        server.on('error', (err) => this.log(`healthcheck ${nsn}: ${err.message}`));
        resolve(server);
      });
    });
  }
}
