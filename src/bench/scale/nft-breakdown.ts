import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError } from '../../exec/index.js';
import { servicePortChainNames, TABLE_FAMILY, TABLE_NAME } from '../../proxy/nftables/names.js';
import type { NodeContext, ProxyState } from '../../proxy/types.js';
import { stats, type Stats } from '../stats.js';

/**
 * Where the time of one `nft` process goes with N Services programmed. Every `nft` command
 * first dumps the existing table (chains, sets) into its cache, then sends the whole batch in
 * one sendmsg, inside which the kernel processes it, commit included. strace -T times that
 * sendmsg: kernel = the sendmsg, userspace = the process's wall time minus it. A goto/jump
 * verdict also makes the kernel re-validate the table's whole chain graph at commit
 * (nft_table_validate); a `drop` verdict into the same kind of map does not, so the pair shows
 * that cost on its own.
 */

/** The verdict maps kube-proxy's nftables mode dispatches on (plan.ts keeps them private). */
const SERVICE_IPS = 'service-ips';
const NO_ENDPOINT_SERVICES = 'no-endpoint-services';
/**
 * A key no bench Service uses: ClusterIPs are allocated upward from 10.96.0.10 (at most
 * 120,000 including the extra ones, so below 10.98.0.0) and port 9 is no Service's port. It
 * is inside the bench's service CIDR (10.96.0.0/12), so the element looks like a real one.
 */
export const PROBE_KEY = '10.111.255.254 . tcp . 9';
export const DEFAULT_REPS = 3;

/** One kind of one-element transaction, over the repetitions (ms). */
export interface NftTransactionCost {
  /** The nft process from execve to exit. */
  wallMs: Stats;
  /** The sendmsg carrying the batch: the kernel's processing of it, commit included. */
  kernelMs: Stats;
  /** wall − kernel per run: start-up, reading the table into nft's cache, parsing, the ack. */
  userspaceMs: Stats;
}

export interface NftBreakdown {
  reps: number;
  /** The map key added and deleted again. */
  key: string;
  /** The existing service chain the goto verdict points at. */
  gotoChain: string;
  /** `add element` into service-ips with `goto <chain>`: the commit validates the whole table. */
  addGoto: NftTransactionCost;
  deleteGoto: NftTransactionCost;
  /** `add element` into no-endpoint-services with `drop`: the same commit without validation. */
  addDrop: NftTransactionCost;
  deleteDrop: NftTransactionCost;
}

/** What strace saw of one nft process (ms). */
export interface NftTrace {
  wallMs: number;
  kernelMs: number;
}

// `<pid> <epoch s>.<us> <rest>` (strace -f -ttt); the pid is absent without -f.
const LINE = /^(?:(\d+)\s+)?(\d+)\.(\d{1,9})\s+(.*)$/;
const DURATION = /<(\d+)\.(\d{1,9})>\s*$/;
const BATCH = 'NFNL_MSG_BATCH_BEGIN';

/**
 * Reads `strace -f -T -ttt -e trace=execve,sendmsg` output of one nft process: wall time from
 * its execve to its exit, and the duration of the sendmsg that carries the batch (the one with
 * NFNL_MSG_BATCH_BEGIN, else the longest). undefined when any of the three is missing.
 */
export function parseNftTrace(text: string): NftTrace | undefined {
  let pid: string | undefined;
  let startUs: number | undefined;
  let endUs: number | undefined;
  let batchMs: number | undefined;
  let longestMs: number | undefined;
  // A sendmsg that another traced thread interrupted ends in a "resumed" line of its own.
  const unfinished = new Map<string, boolean>();
  const sendmsg = (ms: number, isBatch: boolean) => {
    if (isBatch) batchMs = Math.max(batchMs ?? 0, ms);
    longestMs = Math.max(longestMs ?? 0, ms);
  };
  for (const raw of text.split('\n')) {
    const m = LINE.exec(raw.trim());
    if (!m) continue;
    const p = m[1] ?? '';
    const rest = m[4]!;
    const us = micros(m[2]!, m[3]!);
    const duration = DURATION.exec(rest);
    const ms = duration ? micros(duration[1]!, duration[2]!) / 1000 : undefined;
    if (rest.startsWith('execve(') && startUs === undefined) {
      pid = p;
      startUs = us;
    } else if (/^\+\+\+ (exited with|killed by)/.test(rest) && p === pid) endUs = us;
    else if (rest.startsWith('sendmsg(') && rest.includes('<unfinished ...>'))
      unfinished.set(p, rest.includes(BATCH));
    else if (rest.startsWith('sendmsg(') && ms !== undefined) sendmsg(ms, rest.includes(BATCH));
    else if (rest.startsWith('<... sendmsg resumed>') && ms !== undefined) {
      sendmsg(ms, unfinished.get(p) ?? false);
      unfinished.delete(p);
    }
  }
  const kernelMs = batchMs ?? longestMs;
  if (startUs === undefined || endUs === undefined || kernelMs === undefined) return undefined;
  return { wallMs: (endUs - startUs) / 1000, kernelMs };
}

/** `<s>.<fraction>` as integer microseconds: exact, where float epoch seconds lose digits. */
function micros(seconds: string, fraction: string): number {
  return Number(seconds) * 1e6 + Number(fraction.padEnd(6, '0').slice(0, 6));
}

/** strace's arguments, or undefined when strace is not installed on the node. */
export async function straceArgs(ctx: NodeContext): Promise<string[] | undefined> {
  const help = await ctx.exec('strace', ['-h'], { allowFailure: true });
  if (!help.ok) return undefined;
  // Only the traced calls stop the process (strace 5.3+), so the other syscalls of nft
  // (reading the table) run at full speed and the userspace part stays honest.
  const seccomp = `${help.stdout}${help.stderr}`.includes('--seccomp-bpf');
  return ['-f', '-T', '-ttt', ...(seccomp ? ['--seccomp-bpf'] : []), '-e', 'trace=execve,sendmsg'];
}

/** The cluster-policy chain of the state's first Service port, as the nftables proxy names it. */
export function probeChainOf(state: ProxyState): string {
  const sp = state.servicePorts[0];
  if (!sp) throw new LabError('the scale state has no Service port to point a goto verdict at');
  return servicePortChainNames({
    namespace: sp.service.namespace,
    name: sp.service.name,
    protocol: sp.port.protocol.toLowerCase(),
    portName: sp.port.name,
  }).cluster;
}

export type NftBreakdownResult =
  | { breakdown: NftBreakdown }
  /** `no-strace` is the same on every cell; `failed` is about this one. */
  | { note: string; cause: 'no-strace' | 'failed' };

/**
 * Runs `reps` rounds of four one-element transactions against the programmed table, each in
 * its own `nft -f -` under strace: add with goto, delete it, add with drop, delete it. Every
 * element it adds it deletes again, also when a step fails. Without strace it measures nothing
 * and says so.
 */
export async function measureNftBreakdown(o: {
  ctx: NodeContext;
  gotoChain: string;
  reps?: number;
  timeoutMs?: number;
}): Promise<NftBreakdownResult> {
  const { ctx } = o;
  const reps = o.reps ?? DEFAULT_REPS;
  const strace = await straceArgs(ctx);
  if (!strace)
    return {
      note: 'nftables cost breakdown not measured: strace is not installed (scripts/install-deps.sh installs it)',
      cause: 'no-strace',
    };
  const table = `${TABLE_FAMILY} ${TABLE_NAME}`;
  const add = (map: string, verdict: string) =>
    `add element ${table} ${map} { ${PROBE_KEY} : ${verdict} }`;
  const del = (map: string) => `delete element ${table} ${map} { ${PROBE_KEY} }`;
  // The node's commands share the host's filesystem (ip netns exec): strace writes here.
  const dir = await mkdtemp(join(tmpdir(), 'svclab-nft-breakdown-'));
  const traceFile = join(dir, 'strace.out');
  const run = async (script: string): Promise<NftTrace> => {
    const r = await ctx.exec('strace', [...strace, '-o', traceFile, 'nft', '-f', '-'], {
      input: `${script}\n`,
      allowFailure: true,
      timeoutMs: o.timeoutMs,
    });
    if (!r.ok) {
      const why = r.timedOut ? 'timed out' : r.stderr.trim().split('\n')[0] || `exit ${r.exitCode}`;
      throw new LabError(`\`${script}\` failed: ${why}`);
    }
    const t = parseNftTrace(await readFile(traceFile, 'utf8'));
    if (!t) throw new LabError(`strace recorded no execve, exit and sendmsg for \`${script}\``);
    return t;
  };

  const samples = { addGoto: [], deleteGoto: [], addDrop: [], deleteDrop: [] } as Record<
    'addGoto' | 'deleteGoto' | 'addDrop' | 'deleteDrop',
    NftTrace[]
  >;
  const added = new Set<string>();
  try {
    for (let i = 0; i < reps; i++) {
      for (const [map, verdict, a, d] of [
        [SERVICE_IPS, `goto ${o.gotoChain}`, 'addGoto', 'deleteGoto'],
        [NO_ENDPOINT_SERVICES, 'drop', 'addDrop', 'deleteDrop'],
      ] as const) {
        // Marked before it runs: a timed-out add may still have committed.
        added.add(map);
        samples[a].push(await run(add(map, verdict)));
        samples[d].push(await run(del(map)));
        added.delete(map);
      }
    }
  } catch (err) {
    return {
      note: `nftables cost breakdown not measured: ${err instanceof Error ? err.message : String(err)}`,
      cause: 'failed',
    };
  } finally {
    for (const map of added)
      await ctx.exec('nft', ['-f', '-'], { input: `${del(map)}\n`, allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  }
  const cost = (s: NftTrace[]): NftTransactionCost => ({
    wallMs: stats(s.map((t) => t.wallMs)),
    kernelMs: stats(s.map((t) => t.kernelMs)),
    // In whole microseconds, as strace measured both: no float residue in the report.
    userspaceMs: stats(s.map((t) => Math.round((t.wallMs - t.kernelMs) * 1000) / 1000)),
  });
  return {
    breakdown: {
      reps,
      key: PROBE_KEY,
      gotoChain: o.gotoChain,
      addGoto: cost(samples.addGoto),
      deleteGoto: cost(samples.deleteGoto),
      addDrop: cost(samples.addDrop),
      deleteDrop: cost(samples.deleteDrop),
    },
  };
}
