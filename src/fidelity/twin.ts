import { LabError, run } from '../exec/index.js';
import type { Lab } from '../cluster/lab.js';
import { readLabState, writeLabState } from '../cluster/state.js';
import { netnsName } from '../netns/names.js';
import type { NodeContext } from '../proxy/types.js';

/**
 * A twin of one lab node: a bare network namespace of the lab (named `svclab.<lab>.twin.<node>`,
 * so `svclab down` and the sweep remove it with the lab's other namespaces, and recorded in the
 * lab's state before it exists) where svclab's own planner programs the state the node's real
 * kube-proxy programmed. Only the rules are compared, so it needs no interfaces: the planners
 * take what they know of the node (name, IP, pod and cluster CIDRs) from the NodeContext, which
 * is the real node's with commands redirected into the twin. Nothing in it routes anywhere.
 */
export interface Twin extends AsyncDisposable {
  readonly netns: string;
  readonly node: string;
  /** The node's context, with `exec` and `readFile` running inside the twin. */
  readonly ctx: NodeContext;
  /**
   * Puts addresses (`10.0.0.2/24`) on a dummy device of the twin (`node-addrs`, down: local
   * routes only, nothing is sent), for a planner that reads the node's addresses from the kernel.
   */
  addAddresses(cidrs: readonly string[]): Promise<void>;
  remove(): Promise<void>;
}

export const TWIN_ADDRESS_DEVICE = 'node-addrs';

export async function createTwin(lab: Lab, node: string): Promise<Twin> {
  if (lab.backend.provider !== 'netns')
    throw new LabError(
      `a twin namespace needs the netns provider (lab ${lab.name} uses ${lab.backend.provider})`,
    );
  const real = lab.backend.nodeContext(node);
  const netns = netnsName(lab.name, 'twin', node);
  await recordNamespace(lab.name, netns, 'add');
  await run('ip', ['netns', 'add', netns]).catch((err: unknown) => {
    throw new LabError(`failed to create twin namespace "${netns}"`, { cause: err });
  });
  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    await run('ip', ['netns', 'del', netns], { allowFailure: true });
    await recordNamespace(lab.name, netns, 'delete');
  };
  try {
    await run('ip', ['link', 'set', 'lo', 'up'], { netns });
  } catch (err) {
    await remove();
    throw new LabError(`failed to set up twin namespace "${netns}"`, { cause: err });
  }
  const ctx: NodeContext = {
    nodeName: real.nodeName,
    nodeIP: real.nodeIP,
    podCIDR: real.podCIDR,
    clusterCIDR: real.clusterCIDR,
    serviceCIDR: real.serviceCIDR,
    zone: real.zone,
    exec: (file, args, opts) => run(file, args, { ...opts, netns }),
    readFile: async (path) => (await run('cat', [path], { netns })).stdout,
  };
  const addAddresses = async (cidrs: readonly string[]) => {
    try {
      await run('ip', ['link', 'add', TWIN_ADDRESS_DEVICE, 'type', 'dummy'], { netns });
      for (const cidr of cidrs)
        await run('ip', ['addr', 'add', cidr, 'dev', TWIN_ADDRESS_DEVICE], { netns });
    } catch (err) {
      throw new LabError(`failed to add the node's addresses to twin namespace "${netns}"`, {
        cause: err,
      });
    }
  };
  return { netns, node, ctx, addAddresses, remove, [Symbol.asyncDispose]: remove };
}

/** Keeps the lab state's namespace list (what a sweep of a broken lab relies on) in step. */
async function recordNamespace(lab: string, netns: string, op: 'add' | 'delete'): Promise<void> {
  const st = await readLabState(lab).catch(() => undefined);
  if (!st) return;
  const others = st.namespaces.filter((n) => n !== netns);
  await writeLabState({ ...st, namespaces: op === 'add' ? [...others, netns] : others });
}
