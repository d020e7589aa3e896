import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliBenchReport } from '../bench/cli.js';
import { toRows, type ScaleCell, type ScaleReport } from '../bench/scale/report.js';
import type { Stats } from '../bench/stats.js';
import { packageRoot } from '../cli/package-root.js';
import type { SkipRecord } from '../harness/skip-log.js';
import type { MatrixReport } from '../persistence/matrix.js';
import type { EventResult } from '../persistence/scenario.js';
import type { VmBench } from '../vm/bench.js';
import type { ControlPlaneUpReport, UpReport } from './bench-reports.js';
import type { FidelityReport } from './fidelity.js';

/**
 * Inputs of the report page as svclab writes them, small, with hostile names where users control
 * them (test names, file names, failure messages, reasons): markup that would load something or
 * run a script if it reached the page unescaped.
 */
export const HOSTILE = {
  /** A network fetch if it became markup. */
  img: '<img src="http://198.51.100.7/pixel.png">',
  /** Changes the page title if it ran. */
  script: '<script>document.title="pwned"</script>',
  entities: 'a & b < c > d "quoted" \'single\'',
  /** A file fetch if it became markup; fits in a file name (no slash). */
  fileName: '<img src="pixel.png">',
};

const root = packageRoot();
export const SUITE_HAIRPIN = 'suites/hairpin/hairpin.test.ts';
export const SUITE_HOSTILE = `suites/evil/${HOSTILE.fileName}.test.ts`;

type Status = 'passed' | 'failed' | 'skipped';
function vitestReport(files: Record<string, { name: string; status: Status; failure?: string }[]>) {
  const all = Object.values(files).flat();
  const count = (s: Status) => all.filter((t) => t.status === s).length;
  return {
    numPassedTests: count('passed'),
    numFailedTests: count('failed'),
    numPendingTests: count('skipped'),
    numTodoTests: 0,
    testResults: Object.entries(files).map(([file, tests]) => ({
      name: join(root, file),
      status: tests.some((t) => t.status === 'failed') ? 'failed' : 'passed',
      message: '',
      assertionResults: tests.map((t) => ({
        fullName: t.name,
        status: t.status,
        failureMessages: t.failure ? [t.failure] : [],
      })),
    })),
  };
}

/** A results folder: vitest JSON reports and skip logs, as scripts/test.sh leaves them. */
export const RESULTS = {
  'unit.json': vitestReport({
    'src/a.test.ts': [
      { name: 'a works', status: 'passed' },
      { name: 'a still works', status: 'passed' },
    ],
  }),
  'suites-iptables.json': vitestReport({
    [SUITE_HAIRPIN]: [
      { name: 'hairpin > reaches itself', status: 'passed' },
      {
        name: `hairpin > ${HOSTILE.script}`,
        status: 'failed',
        failure: `AssertionError: ${HOSTILE.entities}\nsecond line`,
      },
    ],
    [SUITE_HOSTILE]: [{ name: 'evil > skipped', status: 'skipped' }],
  }),
  'suites-iptables.skips.jsonl': [
    {
      file: join(root, SUITE_HOSTILE),
      suite: SUITE_HOSTILE,
      cause: 'tools',
      reason: `missing ${HOSTILE.img}`,
      mode: 'iptables/partial/nft',
      where: 'host',
    },
  ] satisfies SkipRecord[],
  'suites-docker-iptables.skips.jsonl': [
    {
      suite: 'run:suites-docker-iptables',
      cause: 'docker',
      reason: 'no Docker daemon',
      provider: 'docker',
      proxy: 'iptables',
      declared: 'no Docker daemon installed',
      where: 'host',
    },
  ] satisfies SkipRecord[],
};

const flow = (
  kind: 'stream' | 'conn' | 'udp',
  outcome: 'survived' | 'moved' | 'closed',
  after?: string,
) => ({
  kind,
  outcome,
  before: 'web-1',
  ...(after ? { after } : {}),
  decidedAfterMs: 10,
  evidence: 'heartbeats',
});

function eventResult(
  event: string,
  o: { udp: 'survived' | 'moved'; updateMs: number; newMs: number },
): EventResult {
  return {
    event,
    title: event,
    serving: 'web-1',
    pinned: true,
    updateMs: o.updateMs,
    flows: {
      stream: flow('stream', 'survived'),
      conn: flow('conn', 'survived'),
      udp: flow('udp', o.udp, o.udp === 'moved' ? 'web-2' : undefined),
    },
    newConnection: { ok: true, firstOkMs: o.newMs, backend: 'web-2', attempts: 1, failures: {} },
    notes: [],
    durationMs: 1000,
  };
}

const machine = {
  kernel: '6.18.0-test',
  node: 'v20.0.0',
  cpus: 2,
  cpuModel: 'Test CPU',
  memoryGiB: 4,
  at: '2026-12-01T00:00:00.000Z',
};

/** Two events, one mode that ran (with a failure and a known bug), one skipped. */
export const MATRIX: MatrixReport = {
  apiVersion: 'svclab.dev/v1alpha1',
  kind: 'PersistenceMatrix',
  generatedAt: '2026-12-01T01:00:00.000Z',
  machine,
  topology: '/somewhere/topologies/persistence.yaml',
  watch: { stallMs: 2000, aliveMs: 1500, heartbeatMs: 50, udpTries: 4, connectTimeoutMs: 5000 },
  events: [
    { id: 'scale-out', title: 'scale out' },
    { id: 'endpoint-removed', title: `endpoint removed ${HOSTILE.entities}` },
  ],
  knownBugs: [{ id: 'stale-udp', issues: [48370, 105657], title: 'stale UDP conntrack' }],
  modes: [
    {
      mode: 'nftables',
      proxy: 'nftables',
      proxyOptions: {},
      kernel: '6.18.0-test',
      where: 'host',
      status: 'ran',
      events: [eventResult('scale-out', { udp: 'survived', updateMs: 32, newMs: 3 })],
      failures: [{ event: 'endpoint-removed', error: `flow would not open: ${HOSTILE.img}` }],
      knownBugs: [
        {
          id: 'stale-udp',
          issues: [48370, 105657],
          title: 'stale UDP conntrack',
          status: 'not-reproduced',
          summary: 'conntrack entry deleted',
          evidence: ['conntrack -L: 0 entries'],
          durationMs: 500,
        },
      ],
      labUpMs: [480, 510],
      durationMs: 12_300,
    },
    {
      mode: 'ipvs',
      proxy: 'ipvs',
      proxyOptions: { ipvsScheduler: 'rr' },
      kernel: '6.18.0-test',
      where: 'host',
      status: 'skipped',
      reason: 'no IP_VS',
      events: [],
      failures: [],
      knownBugs: [],
      labUpMs: [],
      durationMs: 0,
    },
  ],
};

const stats = (median: number, max = median): Stats => ({
  n: 3,
  min: median,
  median,
  p99: max,
  max,
  mean: median,
});

export const BENCH_UP: UpReport = {
  benchmark: 'up',
  proxy: 'iptables',
  runs: 3,
  machine,
  results: [
    {
      topology: 'three-node.yaml',
      nodes: 3,
      pods: 6,
      services: 7,
      namespaces: 10,
      upMs: stats(550.3, 598.7),
      downMs: stats(36.2, 42.8),
      wholeUpMs: stats(1090, 1150),
      wholeDownMs: stats(210, 230),
    },
    // Written before the whole-command figures existed.
    {
      topology: HOSTILE.script,
      nodes: 5,
      pods: 100,
      services: 20,
      namespaces: 107,
      upMs: stats(5637.6, 5771.5),
      downMs: stats(184.7, 191.8),
    },
  ],
};

export const BENCH_CLI: CliBenchReport = {
  benchmark: 'cli',
  runs: 7,
  proxy: 'iptables',
  topology: 'topologies/three-node.yaml',
  baseline: { command: 'node -e 0', wallMs: stats(40) },
  commands: [
    {
      command: 'validate topologies/three-node.yaml',
      wallMs: stats(92, 101),
      ratio: 2.3,
      goal: 'under 3x node -e 0',
      met: true,
    },
    { command: 'down', wallMs: stats(620, 700), ratio: 15.5, goal: 'under 500 ms', met: false },
  ],
  notes: ['not root: probe was not timed'],
  met: false,
  machine,
};

export const BENCH_VM: VmBench = {
  kernelRelease: '6.1.0-56-amd64',
  accel: 'tcg',
  prepareMs: 3.9,
  runs: [
    {
      command: ['true'],
      exitCode: 0,
      bootMs: 2479.3,
      commandMs: 168.2,
      teardownMs: 20.8,
      totalMs: 2668.3,
      guestPhases: { kernel: 1.35 },
    },
  ],
  inside: { 'node -e 1': { coldMs: 2412, warmMs: 772 } },
  hostLoad: 2.5,
};

export const BENCH_CONTROL_PLANE: ControlPlaneUpReport = {
  benchmark: 'up --control-plane',
  proxy: 'nftables',
  machine,
  result: {
    topology: 'three-node.yaml',
    runs: 3,
    upMs: stats(6771.4, 7304.5),
    downMs: stats(66.9, 95.5),
    phaseMs: { 'start agents': stats(100, 103) },
    rssMiB: { 'kube-apiserver': stats(265.2, 270.9) },
    version: 'v1.37.2',
  },
};

const cost = { commands: 2, userMs: 10, sysMs: 5, maxRssKiB: 2048, wallMs: 20 };
const change = (ms: number) => ({
  reps: 3,
  ms: stats(ms, ms + 5),
  cpuMs: stats(ms / 2),
  maxRssKiB: 1024,
  strategy: 'partial',
  written: { rules: 3 },
});
const SCALE_CELLS: ScaleCell[] = [
  {
    mode: 'nftables',
    services: 1000,
    where: 'host',
    status: 'ok',
    planner: { fullMs: 12, changeMs: 0.5 },
    programming: {
      full: { ms: 348, strategy: 'full', cost, plannerCpuMs: 5, written: { rules: 100 } },
      kernelMemory: { slabKiB: 3481.6, sUnreclaimKiB: 100, vmallocUsedKiB: 50 },
      addOne: change(16),
      removeOne: change(63),
      changeEndpoints: change(59),
    },
    dataPath: [
      {
        position: 'first',
        service: 'svc-0',
        connectMs: stats(0.5),
        failures: 0,
        throughputGbps: 20.7,
      },
      {
        position: 'last',
        service: 'svc-999',
        connectMs: stats(0.56),
        failures: 0,
        throughputGbps: 19.04,
      },
    ],
    durationMs: 5000,
  },
  {
    mode: 'nftables',
    services: 50000,
    where: 'host',
    status: 'skipped',
    reason: `predicted over budget ${HOSTILE.img}`,
    durationMs: 0,
  },
];
const SCALE_ENV = [
  {
    where: 'host' as const,
    emulated: false,
    kernel: '6.18.0-test',
    machine: 'Test CPU, 2 CPUs, 4 GiB',
    tools: {
      iptables: 'iptables v1.8.9',
      nft: 'nftables v1.0.6',
      ipvsadm: 'ipvsadm v1.31',
      iperf3: 'iperf 3.12',
    },
  },
];
export const BENCH_SCALE: ScaleReport = {
  schemaVersion: 1,
  benchmark: 'scale',
  startedAt: '2026-11-26T00:00:00.000Z',
  durationMs: 60_000,
  options: {
    modes: ['nftables'],
    services: [1000, 50000],
    endpoints: 2,
    nodePortEvery: 10,
    quick: true,
    budgetSeconds: 110,
    connections: 20,
    iperfSeconds: 1,
  },
  environments: SCALE_ENV,
  cells: SCALE_CELLS,
  rows: toRows(SCALE_CELLS, SCALE_ENV),
  notes: [`merged ${HOSTILE.entities}`],
};

export const FIDELITY: FidelityReport = {
  kind: 'FidelityReport',
  generatedAt: '2026-12-02T00:00:00.000Z',
  kubeVersion: 'v1.37.2',
  results: [
    {
      mode: 'iptables',
      source: 'three-node.yaml',
      servicePort: 'default/web:80/TCP',
      status: 'identical',
    },
    {
      mode: 'iptables',
      source: 'random seed 7 #1',
      servicePort: 'default/a:80/TCP',
      status: 'identical',
    },
    {
      mode: 'iptables',
      source: 'random seed 7 #1',
      servicePort: 'default/b:53/UDP',
      status: 'declared',
      reason: 'comment text differs',
    },
    {
      mode: 'nftables',
      source: 'three-node.yaml',
      servicePort: `default/${HOSTILE.img}:80/TCP`,
      status: 'different',
      firstDifference: [
        '- add rule ip kube-proxy services ip daddr 10.96.0.10 goto <x>',
        '+ (none)',
      ],
    },
  ],
};

export interface FixturePaths {
  results: string;
  matrix: string;
  bench: string;
  fidelity: string;
}

/** Writes every input under `dir`, laid out as in a checkout; returns where each is. */
export function writeFixture(dir: string): FixturePaths {
  const p = {
    results: join(dir, 'results'),
    matrix: join(dir, 'persistence', 'persistence-matrix.json'),
    bench: join(dir, 'bench'),
    fidelity: join(dir, 'fidelity', 'fidelity.json'),
  };
  for (const d of [
    p.results,
    join(dir, 'persistence'),
    join(p.bench, 'scale'),
    join(dir, 'fidelity'),
  ])
    mkdirSync(d, { recursive: true });
  for (const [name, content] of Object.entries(RESULTS))
    writeFileSync(
      join(p.results, name),
      Array.isArray(content)
        ? content.map((r) => JSON.stringify(r) + '\n').join('')
        : JSON.stringify(content),
    );
  const json = (file: string, v: unknown) => writeFileSync(file, JSON.stringify(v, null, 2) + '\n');
  json(p.matrix, MATRIX);
  json(join(p.bench, 'up.json'), BENCH_UP);
  json(join(p.bench, 'cli.json'), BENCH_CLI);
  json(join(p.bench, 'vm.json'), BENCH_VM);
  json(join(p.bench, 'control-plane-up.json'), BENCH_CONTROL_PLANE);
  json(join(p.bench, 'scale', 'scale.json'), BENCH_SCALE);
  json(join(p.bench, 'unrelated.json'), { hello: 'world' });
  json(p.fidelity, FIDELITY);
  return p;
}
