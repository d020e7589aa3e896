import { basename } from 'node:path';
import type { CliBenchReport } from '../../bench/cli.js';
import { fmtMs } from '../../bench/scale/markdown.js';
import { METRICS, type ScaleCell, type ScaleReport } from '../../bench/scale/report.js';
import { chartsOf } from '../../bench/scale/write.js';
import type { Stats } from '../../bench/stats.js';
import type { VmBench } from '../../vm/bench.js';
import {
  BENCH_KINDS,
  type BenchEntry,
  type ControlPlaneUpReport,
  type UpReport,
} from '../bench-reports.js';
import { markup, raw, table, type Html } from '../html.js';
import type { BenchSet, Found } from '../inputs.js';

const ms = (s: Pick<Stats, 'median' | 'max'> | undefined, k: 'median' | 'max') => fmtMs(s?.[k]);

function up(r: UpReport, id: string): Html {
  return markup`<p class="meta">
      proxy ${r.proxy}, ${r.runs} runs each, kernel ${r.machine.kernel}, ${r.machine.cpus} CPUs.
      svclab up / down: the whole commands, start-up included.
    </p>
    ${table({
      id,
      caption: 'Lab bring-up and teardown',
      head: [
        'topology',
        'nodes',
        'pods',
        'namespaces',
        'up median',
        'up max',
        'down median',
        'down max',
        'svclab up median',
        'svclab down median',
      ],
      rows: r.results.map((x) => [
        x.topology,
        x.nodes,
        x.pods,
        x.namespaces,
        ms(x.upMs, 'median'),
        ms(x.upMs, 'max'),
        ms(x.downMs, 'median'),
        ms(x.downMs, 'max'),
        ms(x.wholeUpMs, 'median'),
        ms(x.wholeDownMs, 'median'),
      ]),
    })}`;
}

function controlPlaneUp(r: ControlPlaneUpReport, id: string): Html {
  const c = r.result;
  const row = (what: string, s: Stats, unit: (v: number) => string) => [
    what,
    Number.isFinite(s.median) ? unit(s.median) : '—',
    Number.isFinite(s.max) ? unit(s.max) : '—',
  ];
  const mib = (v: number) => `${v.toFixed(0)} MiB`;
  return markup`<p class="meta">
      ${c.topology} with the real control plane (Kubernetes ${c.version}), proxy ${r.proxy},
      ${c.runs} runs, kernel ${r.machine.kernel}, ${r.machine.cpus} CPUs.
    </p>
    ${table({
      id,
      caption: 'Bring-up with a real control plane',
      head: ['what', 'median', 'max'],
      rows: [
        row('up (every Pod Ready, EndpointSlices match)', c.upMs, fmtMs),
        row('down', c.downMs, fmtMs),
        ...Object.entries(c.phaseMs).map(([k, v]) => row(`phase: ${k}`, v, fmtMs)),
        ...Object.entries(c.rssMiB).map(([k, v]) => row(`RSS ${k}`, v, mib)),
      ],
    })}`;
}

function cli(r: CliBenchReport, id: string): Html {
  return markup`<p class="meta">
      Whole commands against ${r.baseline.command} (median ${fmtMs(r.baseline.wallMs.median)}),
      ${r.runs} runs each, kernel ${r.machine.kernel}, ${r.machine.cpus} CPUs; every goal met:
      ${r.met ? 'yes' : 'no'}.
    </p>
    ${table({
      id,
      caption: 'Whole svclab commands',
      head: ['command', 'median', 'max', 'x node -e 0', 'goal', 'met'],
      rows: r.commands.map((c) => [
        c.command,
        ms(c.wallMs, 'median'),
        ms(c.wallMs, 'max'),
        Number.isFinite(c.ratio) ? `${c.ratio.toFixed(1)}x` : '—',
        c.goal,
        c.met ? 'yes' : 'no',
      ]),
    })}${
      r.notes.length > 0
        ? markup`<ul class="note">
            ${r.notes.map((n) => markup`<li>${n}</li>`)}
          </ul>`
        : ''
    }`;
}

function vm(r: VmBench, id: string): Html {
  return markup`<p class="meta">
      kernel ${r.kernelRelease}, accel ${r.accel}, host load ${r.hostLoad.toFixed(1)}.
    </p>
    ${table({
      id,
      caption: 'One VM per command',
      head: ['command', 'boot', 'command time', 'teardown', 'total'],
      rows: r.runs.map((x) => [
        x.command.join(' '),
        fmtMs(x.bootMs),
        fmtMs(x.commandMs),
        fmtMs(x.teardownMs),
        fmtMs(x.totalMs),
      ]),
    })}${table({
      id: `${id}-inside`,
      caption: 'Inside one VM',
      head: ['command', 'cold', 'warm'],
      rows: Object.entries(r.inside).map(([c, t]) => [c, fmtMs(t.coldMs), fmtMs(t.warmMs)]),
    })}`;
}

/** The scale bench's key figures per mode and N; every metric is in the charts below it. */
const SCALE_COLUMNS = [
  ['full sync', 'full_sync_ms'],
  ['add one (median)', 'add_one_ms_median'],
  ['remove one (median)', 'remove_one_ms_median'],
  ['change endpoints (median)', 'change_endpoints_ms_median'],
  ['new connection, last Service (median)', 'conn_last_ms_median'],
  ['throughput, last Service', 'iperf_last_gbps'],
  ['kernel Slab growth', 'kernel_slab_delta_kib'],
] as const;

function metricValue(c: ScaleCell, metric: string): string {
  const m = METRICS.find((x) => x.metric === metric)!;
  const v = m.pick(c);
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (m.unit === 'ms') return fmtMs(v);
  if (m.unit === 'KiB') return v < 1024 ? `${v.toFixed(0)} KiB` : `${(v / 1024).toFixed(1)} MiB`;
  return `${v.toFixed(1)} ${m.unit}`;
}

function scale(r: ScaleReport, id: string): Html {
  const cells = r.cells
    .filter((c) => c.status === 'ok')
    .sort(
      (a, b) =>
        r.options.modes.indexOf(a.mode) - r.options.modes.indexOf(b.mode) ||
        a.services - b.services,
    );
  const notOk = r.cells.filter((c) => c.status !== 'ok');
  return markup`<p class="meta">
      Run ${r.startedAt}, ${fmtMs(r.durationMs)} in total; modes ${r.options.modes.join(', ')}; N =
      ${r.options.services.join(', ')} Services, ${r.options.endpoints} endpoints
      each${r.options.quick ? '; --quick' : ''}.
    </p>
    ${table({
      id: `${id}-environments`,
      caption: 'Where the scale bench ran',
      head: ['where', 'kernel', 'machine', 'iptables', 'nft', 'ipvsadm'],
      rows: r.environments.map((e) => [
        e.where + (e.emulated ? ' (QEMU TCG)' : ''),
        e.kernel,
        e.machine,
        e.tools.iptables,
        e.tools.nft,
        e.tools.ipvsadm,
      ]),
    })}${
      r.notes.length + notOk.length > 0
        ? markup`<ul class="note">
            ${r.notes.map((n) => markup`<li>${n}</li>`)}${notOk.map(
              (c) =>
                markup`<li>
                  ${c.mode} at ${c.services} Services: ${c.status}${c.reason ? `: ${c.reason}` : ''}
                </li>`,
            )}
          </ul>`
        : ''
    }${table({
      id,
      caption: 'Programming and data path per mode and number of Services',
      head: ['mode', 'N', 'where', ...SCALE_COLUMNS.map(([h]) => h)],
      rows: cells.map((c) => [
        c.mode,
        c.services,
        c.where,
        ...SCALE_COLUMNS.map(([, m]) => metricValue(c, m)),
      ]),
    })}
    <div class="charts" id="${id}-charts">
      ${chartsOf(r).map((c) => markup`<figure>${raw(c.svg)}</figure> `)}
    </div>`;
}

const TITLES: Record<BenchEntry['kind'], string> = {
  up: 'svclab bench up',
  'control-plane-up': 'svclab bench up --control-plane',
  cli: 'svclab bench cli',
  vm: 'svclab bench vm',
  scale: 'svclab bench scale',
};

function entry(e: BenchEntry, id: string): Html {
  switch (e.kind) {
    case 'up':
      return up(e.report, id);
    case 'control-plane-up':
      return controlPlaneUp(e.report, id);
    case 'cli':
      return cli(e.report, id);
    case 'vm':
      return vm(e.report, id);
    case 'scale':
      return scale(e.report, id);
  }
}

/**
 * Every benchmark report of the bench folder, by kind in a fixed order. Table ids are
 * `bench-<kind>`, then `bench-<kind>-2`... when a folder holds several of a kind.
 */
export function benchSection(input: Found<BenchSet>): Html {
  const head = markup`<h2>Benchmarks</h2>`;
  if (!input.found)
    return markup`${head}
      <p class="missing" id="bench-missing">
        no benchmark reports found at ${input.path} (svclab bench ... --out writes them)
      </p>`;
  const parts: Html[] = [];
  for (const kind of BENCH_KINDS) {
    const of = input.value.entries.filter((e) => e.kind === kind);
    of.forEach((e, i) => {
      const id = `bench-${kind}${i > 0 ? `-${i + 1}` : ''}`;
      parts.push(
        markup`<h3>${TITLES[kind]} <span class="file">${basename(e.file)}</span></h3>
          ${entry(e, id)}`,
      );
    });
  }
  const ignored = input.value.ignored;
  return markup`${head}
    <p class="meta">Reports in ${input.path}.</p>
    ${parts}${
      ignored.length > 0
        ? markup`<p class="note" id="bench-ignored">
            Not benchmark reports svclab writes, left out:
            ${ignored.map((f, i) => markup`${i > 0 ? ', ' : ''}${basename(f)}`)}.
          </p>`
        : ''
    }`;
}
