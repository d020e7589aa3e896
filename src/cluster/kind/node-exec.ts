import { ExecError, type ExecResult } from '../../exec/index.js';
import type { RunIn } from '../kubeconfig/backend.js';

/**
 * Pure: the command did not run because its program is not installed where it ran (the runtime's
 * "executable file not found", or a shell's 127), as opposed to a program that ran and failed.
 */
export function programMissing(r: Pick<ExecResult, 'exitCode' | 'stdout' | 'stderr'>): boolean {
  if (r.exitCode !== 126 && r.exitCode !== 127) return false;
  return /executable file not found|no such file or directory|not found/i.test(
    `${r.stderr}\n${r.stdout}`,
  );
}

/**
 * Runs a command in the kind node container, and where the node image lacks the program runs it
 * in `fallback` instead. kindest/node images ship iptables, nft, conntrack and iproute2 but not
 * ipvsadm or ipset (kube-proxy brings its own in its image), so IPVS dumps and `ipvsadm --set`
 * go to a privileged debug pod on that node, which shares the node's network namespace. Programs
 * found in the node container always run there: same binaries, same iptables backend as the node.
 */
export function nodeExecWithFallback(node: RunIn, fallback: () => RunIn): RunIn {
  const missing = new Set<string>();
  return async (file, args, opts = {}) => {
    if (!missing.has(file)) {
      const r = await node(file, args, { ...opts, allowFailure: true });
      if (!programMissing(r)) {
        if (!r.ok && !opts.allowFailure) throw new ExecError(r);
        return r;
      }
      missing.add(file);
    }
    return fallback()(file, args, opts);
  };
}
