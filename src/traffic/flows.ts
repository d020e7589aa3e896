import { ConnFlow } from './conn-flow.js';
import type { Flow } from './flow.js';
import {
  FLOW_DEFAULT_TIMEOUT_MS,
  type Attempt,
  type ConnOpenRequest,
  type FlowOpened,
  type FlowStatus,
  type StreamOpenRequest,
  type UdpOpenRequest,
} from './protocol.js';
import { StreamFlow } from './stream-flow.js';
import { UdpFlow } from './udp-flow.js';

/** Flows outlive control connections (a suite may reconnect); they end with flow-close. */
export class FlowTable {
  private readonly flows = new Map<string, Flow>();
  private seq = 0;

  constructor(private readonly limit = 4096) {}

  get size(): number {
    return this.flows.size;
  }

  private nextId(kind: Flow['kind']): string {
    // Closed flows that nobody flow-closed are evicted oldest first; open ones never are.
    if (this.flows.size >= this.limit) {
      const victim = [...this.flows.values()].find((f) => !f.isOpen);
      if (!victim) throw new Error(`too many open flows (${this.limit}); flow-close some first`);
      this.flows.delete(victim.id);
    }
    return `${kind}-${++this.seq}`;
  }

  private add({ flow, opened }: { flow: Flow; opened: FlowOpened }): FlowOpened {
    this.flows.set(flow.id, flow);
    return opened;
  }

  async openStream(req: StreamOpenRequest): Promise<FlowOpened> {
    return this.add(await StreamFlow.open(this.nextId('stream'), req));
  }

  async openConn(req: ConnOpenRequest): Promise<FlowOpened> {
    const timeoutMs = req.timeoutMs ?? FLOW_DEFAULT_TIMEOUT_MS;
    return this.add(await ConnFlow.open(this.nextId('conn'), req.host, req.port, timeoutMs));
  }

  async openUdp(req: UdpOpenRequest): Promise<FlowOpened> {
    const timeoutMs = req.timeoutMs ?? FLOW_DEFAULT_TIMEOUT_MS;
    return this.add(
      await UdpFlow.open(this.nextId('udp'), {
        host: req.host,
        port: req.port,
        sourcePort: req.sourcePort,
        timeoutMs,
      }),
    );
  }

  private get(flowId: string): Flow {
    const flow = this.flows.get(flowId);
    if (!flow) throw new Error(`unknown flow ${JSON.stringify(flowId)}`);
    return flow;
  }

  send(flowId: string, timeoutMs = FLOW_DEFAULT_TIMEOUT_MS): Promise<Attempt> {
    return this.get(flowId).send(timeoutMs);
  }

  status(flowId: string): FlowStatus {
    return this.get(flowId).status();
  }

  async close(flowId: string): Promise<FlowStatus> {
    const flow = this.get(flowId);
    this.flows.delete(flowId);
    return flow.close();
  }

  async closeAll(): Promise<void> {
    const all = [...this.flows.values()];
    this.flows.clear();
    await Promise.allSettled(all.map((f) => f.close()));
  }
}
