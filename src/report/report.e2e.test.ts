import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../bench/scale/report.js';
import {
  FIDELITY,
  HOSTILE,
  SUITE_HAIRPIN,
  SUITE_HOSTILE,
  writeFixture,
  type FixturePaths,
} from './fixtures.test-helper.js';

// `svclab report` end to end: the CLI writes the page from fixture inputs, Debian's Chromium opens
// it, and every table is read back from the rendered DOM and compared with the inputs. Chromium is
// no optional extra here: scripts/install-deps.sh installs it on every machine svclab supports and
// this test needs no root or kernel feature, so a missing browser is a broken machine and fails
// (a skip would be an undeclared one anyway, src/harness/declared-skips.ts).
const CHROMIUM = process.env.SVCLAB_CHROMIUM ?? '/usr/bin/chromium';
const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'bin', 'svclab.js');

const dir = mkdtempSync(join(tmpdir(), 'svclab-report-e2e-'));
const out = join(dir, 'out', 'report.html');
const pageUrl = pathToFileURL(out).href;
let inputs: FixturePaths;
let browser: Browser | undefined;
let page: Page;
const requests: string[] = [];
const consoleMessages: string[] = [];
const pageErrors: string[] = [];

// The few browser globals the page functions below use (the project compiles without the DOM lib).
interface CellsEl {
  cells: ArrayLike<{ textContent: string | null }>;
}
interface TableEl {
  caption: { textContent: string | null } | null;
  tHead: { rows: ArrayLike<CellsEl> } | null;
  tBodies: ArrayLike<{ rows: ArrayLike<CellsEl> }>;
}
declare const document: { querySelectorAll(selector: string): { length: number } };
declare function getComputedStyle(el: unknown): { borderCollapse: string };

const svclab = (args: string[]) => execa(process.execPath, [cli, ...args], { reject: false });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface TableRead {
  caption: string;
  head: string[];
  rows: string[][];
}

/** A table as the browser rendered it: caption, header cells, body rows of cell texts. */
async function readTable(id: string): Promise<TableRead> {
  const t = page.locator(`table#${id}`);
  expect(await t.count(), `table #${id}`).toBe(1);
  return t.evaluate((node) => {
    const el = node as unknown as TableEl;
    const texts = (r: CellsEl) => Array.from(r.cells, (c) => c.textContent ?? '');
    return {
      caption: el.caption?.textContent ?? '',
      head: texts(el.tHead!.rows[0]!),
      rows: Array.from(el.tBodies[0]!.rows, texts),
    };
  });
}

describe('svclab report in Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `Chromium not found at ${CHROMIUM}: this test opens the report in it. Install it with scripts/install-deps.sh ` +
          `(or apt-get install -y --no-install-recommends chromium), or point SVCLAB_CHROMIUM at a Chromium binary`,
      );
    inputs = writeFixture(join(dir, 'in'));
    const r = await svclab([
      'report',
      ...['--results', inputs.results, '--matrix', inputs.matrix],
      ...['--bench', inputs.bench, '--fidelity', inputs.fidelity, '--out', out],
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${out}`);
    // Chromium refuses to run as root with its sandbox; the page is our own file and has no script.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const context = await browser.newContext();
    // Anything but the page itself is a failure; abort it so nothing leaves the machine either.
    // (Request events fire before routing, so an aborted request is still recorded.)
    await context.route(
      (url) => url.href !== pageUrl,
      (route) => route.abort(),
    );
    page = await context.newPage();
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (m) => consoleMessages.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(pageUrl, { waitUntil: 'load' });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('loads nothing but itself and runs nothing', async () => {
    expect(requests).toEqual([pageUrl]);
    // A resource the Content-Security-Policy refused would show up here.
    expect(consoleMessages).toEqual([]);
    expect(pageErrors).toEqual([]);
    const fetching = await page.evaluate(
      () =>
        document.querySelectorAll('script, link, iframe, object, embed, [src], [srcset]').length,
    );
    expect(fetching).toBe(0);
    // A hostile test name is a <script> that would retitle the page had it become markup.
    expect(await page.title()).toBe('svclab report');
    // The inline stylesheet applies.
    expect(
      await page.locator('table#test-runs').evaluate((t) => getComputedStyle(t).borderCollapse),
    ).toBe('collapse');
  });

  it('the last test run: runs, failures and skips with their reasons', async () => {
    expect(await page.locator('#test-verdict').textContent()).toBe(
      'FAILED: 1 failed, 3 passed, 1 skipped, 1 undeclared skip(s)',
    );
    expect(await readTable('test-runs')).toEqual({
      caption: 'Test runs',
      head: ['run', 'passed', 'failed', 'skipped'],
      rows: [
        ['suites-docker-iptables', 'not run', '—', '—'],
        ['suites-iptables', '1', '1', '1'],
        ['unit', '2', '0', '0'],
      ],
    });
    expect((await readTable('test-failures')).rows).toEqual([
      [
        'suites-iptables',
        SUITE_HAIRPIN,
        `hairpin > ${HOSTILE.script}`,
        `AssertionError: ${HOSTILE.entities}\nsecond line`,
      ],
    ]);
    expect(await readTable('test-skips')).toEqual({
      caption: 'Skips',
      head: ['run', 'suite', 'mode', 'tests', 'reason', 'declared'],
      rows: [
        [
          'suites-docker-iptables',
          '(whole run)',
          '',
          '0',
          'no Docker daemon',
          'expected: no Docker daemon installed',
        ],
        [
          'suites-iptables',
          SUITE_HOSTILE,
          'iptables/partial/nft',
          '1',
          `missing ${HOSTILE.img}`,
          'NOT DECLARED',
        ],
      ],
    });
  });

  it('the persistence matrix, its known bugs and where each mode ran', async () => {
    expect(await readTable('persistence-matrix')).toEqual({
      caption: 'Persistence matrix: TCP stream / idle TCP / UDP · update + first new connection',
      head: ['event', 'nftables', 'ipvs (skipped)'],
      rows: [
        ['scale out (scale-out)', 'survived / survived / survived · update 32 + new 3 ms', '–'],
        [
          `endpoint removed ${HOSTILE.entities} (endpoint-removed)`,
          `failed: flow would not open: ${HOSTILE.img}`,
          '–',
        ],
      ],
    });
    expect((await readTable('persistence-known-bugs')).rows).toEqual([
      [
        'stale UDP conntrack (stale-udp)',
        '#48370, #105657',
        'not-reproduced: conntrack entry deleted',
        '–',
      ],
    ]);
    expect(
      await page
        .locator('table#persistence-known-bugs a')
        .evaluateAll((as) => as.map((a) => a.getAttribute('href'))),
    ).toEqual([
      'https://github.com/kubernetes/kubernetes/issues/48370',
      'https://github.com/kubernetes/kubernetes/issues/105657',
    ]);
    expect((await readTable('persistence-runs')).rows).toEqual([
      ['nftables', '6.18.0-test', 'host', '480, 510', '12.3 s'],
      ['ipvs', '6.18.0-test', 'host', '–', '0.0 s'],
    ]);
  });

  it('the benchmarks: up, control plane, cli and vm', async () => {
    expect(await readTable('bench-up')).toEqual({
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
      rows: [
        [
          'three-node.yaml',
          '3',
          '6',
          '10',
          '550 ms',
          '599 ms',
          '36 ms',
          '43 ms',
          '1.1 s',
          '210 ms',
        ],
        // An older report without the whole-command figures.
        [HOSTILE.script, '5', '100', '107', '5.6 s', '5.8 s', '185 ms', '192 ms', '—', '—'],
      ],
    });
    expect((await readTable('bench-control-plane-up')).rows).toEqual([
      ['up (every Pod Ready, EndpointSlices match)', '6.8 s', '7.3 s'],
      ['down', '67 ms', '96 ms'],
      ['phase: start agents', '100 ms', '103 ms'],
      ['RSS kube-apiserver', '265 MiB', '271 MiB'],
    ]);
    expect(await readTable('bench-cli')).toEqual({
      caption: 'Whole svclab commands',
      head: ['command', 'median', 'max', 'x node -e 0', 'goal', 'met'],
      rows: [
        [
          'validate topologies/three-node.yaml',
          '92 ms',
          '101 ms',
          '2.3x',
          'under 3x node -e 0',
          'yes',
        ],
        ['down', '620 ms', '700 ms', '15.5x', 'under 500 ms', 'no'],
      ],
    });
    expect((await readTable('bench-vm')).rows).toEqual([
      ['true', '2.5 s', '168 ms', '21 ms', '2.7 s'],
    ]);
    expect((await readTable('bench-vm-inside')).rows).toEqual([['node -e 1', '2.4 s', '772 ms']]);
    expect(await page.locator('#bench-ignored').textContent()).toContain('unrelated.json');
  });

  it('the scale benchmark: a row per measured cell, a chart per metric', async () => {
    expect((await readTable('bench-scale-environments')).rows).toEqual([
      [
        'host',
        '6.18.0-test',
        'Test CPU, 2 CPUs, 4 GiB',
        'iptables v1.8.9',
        'nftables v1.0.6',
        'ipvsadm v1.31',
      ],
    ]);
    const scale = await readTable('bench-scale');
    expect(scale.head.slice(0, 3)).toEqual(['mode', 'N', 'where']);
    expect(scale.rows).toEqual([
      [
        'nftables',
        '1000',
        'host',
        '348 ms',
        '16 ms',
        '63 ms',
        '59 ms',
        '560 us',
        '19.0 Gbit/s',
        '3.4 MiB',
      ],
    ]);
    // The skipped cell is named with its reason instead.
    expect(await page.locator('#bench-scale-environments + ul.note').textContent()).toContain(
      `nftables at 50000 Services: skipped: predicted over budget ${HOSTILE.img}`,
    );
    const charts = await page.locator('#bench-scale-charts svg').evaluateAll((svgs) =>
      svgs.map((s) => ({
        title: s.querySelector('title')?.textContent,
        width: s.getBoundingClientRect().width,
        series: s.querySelectorAll('circle').length,
      })),
    );
    expect(charts.map((c) => c.title)).toEqual(METRICS.map((m) => m.title));
    for (const c of charts) expect(c.width).toBeGreaterThan(100);
    // One measured N: the full-sync chart has its one point.
    expect(charts[0]!.series).toBe(1);
  });

  it('the fidelity report: counts per mode and every difference', async () => {
    expect(await readTable('fidelity-summary')).toEqual({
      caption: 'Service ports compared, per mode',
      head: ['mode', 'sources', 'Service ports', 'identical', 'declared', 'different'],
      rows: [
        ['iptables', '2', '3', '2', '1', '0'],
        ['nftables', '1', '1', '0', '0', '1'],
      ],
    });
    const diff = FIDELITY.results[3]!;
    expect((await readTable('fidelity-differences')).rows).toEqual([
      ['iptables', 'random seed 7 #1', 'default/b:53/UDP', 'declared', 'comment text differs', ''],
      [
        'nftables',
        'three-node.yaml',
        diff.servicePort,
        'different',
        '',
        diff.firstDifference!.join('\n'),
      ],
    ]);
  });
});

describe('svclab report, bad input', () => {
  it('a path that is not there is named with its option: exit 2, no page', async () => {
    const missing = join(dir, 'no-such-bench');
    const to = join(dir, 'bad', 'report.html');
    const r = await svclab(['report', '--bench', missing, '--out', to]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe(`svclab: --bench: cannot read ${missing}: no such file or directory`);
    expect(existsSync(to)).toBe(false);
  });
});
