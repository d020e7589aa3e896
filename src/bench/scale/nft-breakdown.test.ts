import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../exec/index.js';
import type { NodeContext } from '../../proxy/types.js';
import {
  measureNftBreakdown,
  parseNftTrace,
  PROBE_KEY,
  probeChainOf,
  type NftBreakdown,
} from './nft-breakdown.js';
import { scaleState } from './state.js';

// Real output of `strace -f -T -ttt --seccomp-bpf -e trace=execve,sendmsg -o FILE nft -f -`
// (strace 6.1, nft 1.0.6, kernel 6.18), in a throwaway namespace holding a kube-proxy-like
// table with 10,000 service chains.

/** add element ip kube-proxy service-ips { 10.111.255.254 . tcp . 9 : goto service-... } */
const ADD_GOTO = String.raw`15553 1795659863.450874 execve("/usr/sbin/nft", ["nft", "-f", "-"], 0x7fff377e0f30 /* 39 vars */) = 0 <0.000172>
15553 1795659863.467847 sendmsg(3, {msg_name={sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, msg_namelen=12, msg_iov=[{iov_base=[[{nlmsg_len=20, nlmsg_type=NFNL_MSG_BATCH_BEGIN, nlmsg_flags=NLM_F_REQUEST, nlmsg_seq=0, nlmsg_pid=0}, {nfgen_family=AF_UNSPEC, version=NFNETLINK_V0, res_id=htons(10)}], [{nlmsg_len=152, nlmsg_type=NFNL_SUBSYS_NFTABLES<<8|NFT_MSG_NEWSETELEM, nlmsg_flags=NLM_F_REQUEST|NLM_F_CREATE, nlmsg_seq=1, nlmsg_pid=0}, {nfgen_family=AF_INET, version=NFNETLINK_V0, res_id=htons(0)}, [[{nla_len=15, nla_type=0x1}, "\x6b\x75\x62\x65\x2d\x70\x72\x6f\x78\x79\x00"], [{nla_len=16, nla_type=0x2}, "\x73\x65\x72\x76\x69\x63\x65\x2d\x69\x70\x73\x00"], [{nla_len=8, nla_type=0x4}, "\x00\x00\x00\x01"], [{nla_len=92, nla_type=NLA_F_NESTED|0x3}, "\x58\x00\x01\x80\x14\x00\x01\x80\x10\x00\x01\x00\x0a\x6f\xff\xfe\x06\x00\x00\x00\x00\x09\x00\x00\x40\x00\x02\x80\x3c\x00\x02\x80"...]]], [{nlmsg_len=20, nlmsg_type=NFNL_MSG_BATCH_END, nlmsg_flags=NLM_F_REQUEST, nlmsg_seq=2, nlmsg_pid=0}, {nfgen_family=AF_UNSPEC, version=NFNETLINK_V0, res_id=htons(10)}]], iov_len=192}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 192 <0.002934>
15553 1795659863.472930 +++ exited with 0 +++`;

/** add element ip kube-proxy no-endpoint-services { 10.111.255.254 . tcp . 9 : drop } */
const ADD_DROP = String.raw`17557 1795659983.874646 execve("/usr/sbin/nft", ["nft", "-f", "-"], 0x7fff0021a140 /* 39 vars */) = 0 <0.000215>
17557 1795659983.888506 sendmsg(3, {msg_name={sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, msg_namelen=12, msg_iov=[{iov_base=[[{nlmsg_len=20, nlmsg_type=NFNL_MSG_BATCH_BEGIN, nlmsg_flags=NLM_F_REQUEST, nlmsg_seq=0, nlmsg_pid=0}, {nfgen_family=AF_UNSPEC, version=NFNETLINK_V0, res_id=htons(10)}], [{nlmsg_len=116, nlmsg_type=NFNL_SUBSYS_NFTABLES<<8|NFT_MSG_NEWSETELEM, nlmsg_flags=NLM_F_REQUEST|NLM_F_CREATE, nlmsg_seq=1, nlmsg_pid=0}, {nfgen_family=AF_INET, version=NFNETLINK_V0, res_id=htons(0)}, [[{nla_len=15, nla_type=0x1}, "\x6b\x75\x62\x65\x2d\x70\x72\x6f\x78\x79\x00"], [{nla_len=25, nla_type=0x2}, "\x6e\x6f\x2d\x65\x6e\x64\x70\x6f\x69\x6e\x74\x2d\x73\x65\x72\x76\x69\x63\x65\x73\x00"], [{nla_len=8, nla_type=0x4}, "\x00\x00\x00\x02"], [{nla_len=44, nla_type=NLA_F_NESTED|0x3}, "\x28\x00\x01\x80\x14\x00\x01\x80\x10\x00\x01\x00\x0a\x6f\xff\xfe\x06\x00\x00\x00\x00\x09\x00\x00\x10\x00\x02\x80\x0c\x00\x02\x80"...]]], [{nlmsg_len=20, nlmsg_type=NFNL_MSG_BATCH_END, nlmsg_flags=NLM_F_REQUEST, nlmsg_seq=2, nlmsg_pid=0}, {nfgen_family=AF_UNSPEC, version=NFNETLINK_V0, res_id=htons(10)}]], iov_len=156}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 156 <0.000135>
17557 1795659983.890899 +++ exited with 0 +++`;

/** delete element ip kube-proxy service-ips { 10.111.255.254 . tcp . 9 } */
const DELETE = String.raw`15559 1795659863.478427 execve("/usr/sbin/nft", ["nft", "-f", "-"], 0x7ffcc0b8ee40 /* 39 vars */) = 0 <0.000150>
15559 1795659863.492977 sendmsg(3, {msg_name={sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, msg_namelen=12, msg_iov=[{iov_base=[[{nlmsg_len=20, nlmsg_type=NFNL_MSG_BATCH_BEGIN, nlmsg_flags=NLM_F_REQUEST, nlmsg_seq=0, nlmsg_pid=0}, {nfgen_family=AF_UNSPEC, version=NFNETLINK_V0, res_id=htons(10)}], [{nlmsg_len=80, nlmsg_type=NFNL_SUBSYS_NFTABLES<<8|NFT_MSG_DELSETELEM, nlmsg_flags=NLM_F_REQUEST, nlmsg_seq=1, nlmsg_pid=0}, {nfgen_family=AF_INET, version=NFNETLINK_V0, res_id=htons(0)}, [[{nla_len=15, nla_type=0x1}, "\x6b\x75\x62\x65\x2d\x70\x72\x6f\x78\x79\x00"], [{nla_len=16, nla_type=0x2}, "\x73\x65\x72\x76\x69\x63\x65\x2d\x69\x70\x73\x00"], [{nla_len=28, nla_type=NLA_F_NESTED|0x3}, "\x18\x00\x01\x80\x14\x00\x01\x80\x10\x00\x01\x00\x0a\x6f\xff\xfe\x06\x00\x00\x00\x00\x09\x00\x00"]]], [{nlmsg_len=20, nlmsg_type=NFNL_MSG_BATCH_END, nlmsg_flags=NLM_F_REQUEST, nlmsg_seq=2, nlmsg_pid=0}, {nfgen_family=AF_UNSPEC, version=NFNETLINK_V0, res_id=htons(10)}]], iov_len=120}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 120 <0.000191>
15559 1795659863.504913 +++ exited with 0 +++`;

/** A goto to a chain that does not exist: the kernel rejects the batch, nft exits 1. */
const FAILED = String.raw`15442 1795659859.914090 execve("/usr/sbin/nft", ["nft", "-f", "-"], 0x7ffed5f39000 /* 39 vars */) = 0 <0.000214>
15442 1795659859.927870 sendmsg(3, {msg_name={sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, msg_namelen=12, msg_iov=[{iov_base=[[{nlmsg_len=20, nlmsg_type=NFNL_MSG_BATCH_BEGIN, nlmsg_flags=NLM_F_REQUEST, nlmsg_seq=0, nlmsg_pid=0}, {nfgen_family=AF_UNSPEC, version=NFNETLINK_V0, res_id=htons(10)}], [{nlmsg_len=116, nlmsg_type=NFNL_SUBSYS_NFTABLES<<8|NFT_MSG_NEWSETELEM, nlmsg_flags=NLM_F_REQUEST|NLM_F_CREATE, nlmsg_seq=1, nlmsg_pid=0}, {nfgen_family=AF_INET, version=NFNETLINK_V0, res_id=htons(0)}, [[{nla_len=15, nla_type=0x1}, "\x6b\x75\x62\x65\x2d\x70\x72\x6f\x78\x79\x00"], [{nla_len=16, nla_type=0x2}, "\x73\x65\x72\x76\x69\x63\x65\x2d\x69\x70\x73\x00"], [{nla_len=8, nla_type=0x4}, "\x00\x00\x00\x01"], [{nla_len=56, nla_type=NLA_F_NESTED|0x3}, "\x34\x00\x01\x80\x14\x00\x01\x80\x10\x00\x01\x00\x0a\x6f\xff\xfe\x06\x00\x00\x00\x00\x09\x00\x00\x1c\x00\x02\x80\x18\x00\x02\x80"...]]], [{nlmsg_len=20, nlmsg_type=NFNL_MSG_BATCH_END, nlmsg_flags=NLM_F_REQUEST, nlmsg_seq=2, nlmsg_pid=0}, {nfgen_family=AF_UNSPEC, version=NFNETLINK_V0, res_id=htons(10)}]], iov_len=156}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 156 <0.009870>
15442 1795659859.940184 +++ exited with 1 +++`;

describe('parseNftTrace', () => {
  it('takes wall time from execve to exit and kernel time from the batch sendmsg', () => {
    expect(parseNftTrace(ADD_GOTO)).toEqual({ wallMs: 22.056, kernelMs: 2.934 });
    expect(parseNftTrace(ADD_DROP)).toEqual({ wallMs: 16.253, kernelMs: 0.135 });
    expect(parseNftTrace(DELETE)).toEqual({ wallMs: 26.486, kernelMs: 0.191 });
    // Exit status is the caller's business (exec's exit code); the trace still reads.
    expect(parseNftTrace(FAILED)).toEqual({ wallMs: 26.094, kernelMs: 9.87 });
  });

  it('prefers the sendmsg carrying NFNL_MSG_BATCH_BEGIN, also when split by another thread', () => {
    const [execve, batch, exit] = ADD_GOTO.split('\n') as [string, string, string];
    const cut = batch.indexOf(', 0) = 192');
    const split = [
      execve,
      `${batch.slice(0, cut)} <unfinished ...>`,
      '15554 1795659863.468000 sendmsg(4, {msg_name={sa_family=AF_NETLINK}}, 0) = 20 <0.005000>',
      '15553 1795659863.470781 <... sendmsg resumed>, 0) = 192 <0.002934>',
      exit,
    ].join('\n');
    expect(parseNftTrace(split)).toEqual({ wallMs: 22.056, kernelMs: 2.934 });
  });

  it('falls back to the longest sendmsg without a decoded batch header', () => {
    const text = [
      '100 1700000000.000100 execve("/usr/sbin/nft", ["nft"], 0x1 /* 1 vars */) = 0 <0.000100>',
      '100 1700000000.001000 sendmsg(3, {msg_name=0x1}, 0) = 20 <0.000050>',
      '100 1700000000.002000 sendmsg(3, {msg_name=0x1}, 0) = 192 <0.001500>',
      '100 1700000000.004100 +++ exited with 0 +++',
    ].join('\n');
    expect(parseNftTrace(text)).toEqual({ wallMs: 4, kernelMs: 1.5 });
  });

  it('returns undefined when the trace lacks the start, the exit or any sendmsg', () => {
    const [execve, batch, exit] = ADD_GOTO.split('\n') as [string, string, string];
    expect(parseNftTrace('')).toBeUndefined();
    expect(parseNftTrace([execve, batch].join('\n'))).toBeUndefined();
    expect(parseNftTrace([batch, exit].join('\n'))).toBeUndefined();
    expect(parseNftTrace([execve, exit].join('\n'))).toBeUndefined();
  });
});

/** A node whose strace "runs" nft by writing a recorded trace to strace's -o file. */
function fakeNode(o: { strace?: boolean; fail?: (script: string) => boolean } = {}) {
  const calls: { file: string; args: readonly string[]; input?: string | undefined }[] = [];
  const result = (argv: string[], ok: boolean, stdout = '', stderr = ''): ExecResult => ({
    argv,
    netns: 'svclab.test.node.node',
    exitCode: ok ? 0 : 1,
    stdout,
    stderr,
    durationMs: 30,
    timedOut: false,
    ok,
  });
  const ctx: NodeContext = {
    nodeName: 'node',
    nodeIP: '10.0.0.2',
    podCIDR: '10.244.0.0/24',
    clusterCIDR: '10.244.0.0/16',
    serviceCIDR: '10.96.0.0/12',
    readFile: () => Promise.reject(new Error('not used')),
    exec: async (file, args, opts) => {
      calls.push({ file, args, input: opts?.input });
      const argv = [file, ...args];
      if (file === 'strace' && args[0] === '-h')
        return o.strace === false
          ? result(argv, false, '', 'exec of "strace" failed: No such file or directory')
          : result(argv, true, 'usage: strace ... [--seccomp-bpf]\n');
      if (file !== 'strace') return result(argv, true);
      const script = opts!.input!;
      if (o.fail?.(script))
        return result(
          argv,
          false,
          '',
          'Error: Could not process rule: No such file or directory\n',
        );
      const trace = script.startsWith('delete')
        ? DELETE
        : script.includes('goto')
          ? ADD_GOTO
          : ADD_DROP;
      await writeFile(args[args.indexOf('-o') + 1]!, trace + '\n');
      return result(argv, true);
    },
  };
  return { ctx, calls };
}

describe('measureNftBreakdown', () => {
  const chain = 'service-YCMZ66QZ-default/svc-00000/tcp/http';

  it('times add/delete with goto and with drop, each in its own traced nft, deleting all it adds', async () => {
    const { ctx, calls } = fakeNode();
    const r = await measureNftBreakdown({ ctx, gotoChain: chain, reps: 2 });
    expect('breakdown' in r).toBe(true);
    const b = (r as { breakdown: NftBreakdown }).breakdown;
    expect(b).toMatchObject({ reps: 2, key: PROBE_KEY, gotoChain: chain });
    expect(b.addGoto.kernelMs.median).toBe(2.934);
    expect(b.addGoto.wallMs.median).toBe(22.056);
    expect(b.addGoto.userspaceMs.median).toBe(19.122);
    expect(b.addDrop.kernelMs.median).toBe(0.135);
    expect(b.deleteGoto.kernelMs.n).toBe(2);
    for (const k of ['addGoto', 'deleteGoto', 'addDrop', 'deleteDrop'] as const)
      expect(b[k].kernelMs.median).toBeLessThanOrEqual(b[k].wallMs.median);

    const traced = calls.filter((c) => c.file === 'strace' && c.args[0] !== '-h');
    expect(traced).toHaveLength(8);
    expect(traced[0]!.args).toEqual(
      expect.arrayContaining(['-f', '-T', '-ttt', '--seccomp-bpf', '-e', 'trace=execve,sendmsg']),
    );
    expect(traced[0]!.args.slice(-3)).toEqual(['nft', '-f', '-']);
    expect(traced.slice(0, 4).map((c) => c.input)).toEqual([
      `add element ip kube-proxy service-ips { ${PROBE_KEY} : goto ${chain} }\n`,
      `delete element ip kube-proxy service-ips { ${PROBE_KEY} }\n`,
      `add element ip kube-proxy no-endpoint-services { ${PROBE_KEY} : drop }\n`,
      `delete element ip kube-proxy no-endpoint-services { ${PROBE_KEY} }\n`,
    ]);
    // Nothing left to clean up: no untraced nft ran.
    expect(calls.filter((c) => c.file === 'nft')).toEqual([]);
  });

  it('skips with a note when strace is not installed', async () => {
    const { ctx, calls } = fakeNode({ strace: false });
    const r = await measureNftBreakdown({ ctx, gotoChain: chain });
    expect(r).toEqual({
      note: expect.stringMatching(/strace is not installed/),
      cause: 'no-strace',
    });
    expect(calls).toHaveLength(1);
  });

  it('returns a note and still deletes the element when a step fails', async () => {
    const { ctx, calls } = fakeNode({ fail: (s) => s.startsWith('delete') });
    const r = await measureNftBreakdown({ ctx, gotoChain: chain });
    expect(r).toEqual({
      note: expect.stringMatching(
        /^nftables cost breakdown not measured: `delete element .*No such file/,
      ),
      cause: 'failed',
    });
    expect(calls.filter((c) => c.file === 'nft')).toEqual([
      {
        file: 'nft',
        args: ['-f', '-'],
        input: `delete element ip kube-proxy service-ips { ${PROBE_KEY} }\n`,
      },
    ]);
  });
});

describe('probeChainOf', () => {
  it("names the first Service port's service chain as the nftables proxy does", () => {
    const state = scaleState({
      services: 3,
      endpoints: 1,
      backends: [{ podName: 'backend-0', ip: '10.244.0.5', nodeName: 'node' }],
      nodePortEvery: 0,
    });
    expect(probeChainOf(state)).toMatch(/^service-[A-Z2-7]{8}-default\/svc-00000\/tcp\/http$/);
    // No bench ClusterIP collides with the probe's key.
    expect(state.servicePorts.map((sp) => sp.service.clusterIP)).not.toContain('10.111.255.254');
  });
});
