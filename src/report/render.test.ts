import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { METRICS } from '../bench/scale/report.js';
import { cellText } from '../persistence/render.js';
import { escapeHtml, markup, raw, table } from './html.js';
import { HOSTILE, MATRIX, writeFixture } from './fixtures.test-helper.js';
import type { ReportInputs } from './inputs.js';
import { loadReportInputs } from './load.js';
import { renderReport } from './render.js';

const dir = mkdtempSync(join(tmpdir(), 'svclab-report-render-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const inputs = loadReportInputs({
  root: dir,
  given: writeFixture(join(dir, 'in')),
  now: new Date('2026-12-03T00:00:00.000Z'),
});
const page = renderReport(inputs);

/** The markup of one table, by id. */
function tableById(id: string): string {
  const m = new RegExp(`<table id="${id}">[\\s\\S]*?</table>`).exec(page);
  if (!m) throw new Error(`no table ${id}`);
  return m[0];
}

describe('markup', () => {
  it('escapes every interpolated string, and only Html passes as is', () => {
    expect(markup`<p>${HOSTILE.entities}</p>`.value).toBe(
      '<p>a &amp; b &lt; c &gt; d &quot;quoted&quot; &#39;single&#39;</p>',
    );
    expect(markup`<p>${raw('<b>x</b>')}${[1, '<', markup`<i>${'&'}</i>`]}</p>`.value).toBe(
      '<p><b>x</b>1&lt;<i>&amp;</i></p>',
    );
  });

  it('a table has its id and caption; an empty one says so under the same id', () => {
    const t = table({ id: 't1', caption: 'C', head: ['a'], rows: [[1], ['<x>']] }).value;
    expect(t).toContain('<table id="t1">');
    expect(t).toContain('<caption>C</caption>');
    expect(t).toContain('<td class="num">1</td>');
    expect(t).toContain('<td>&lt;x&gt;</td>');
    expect(table({ id: 't2', caption: 'C', head: ['a'], rows: [], empty: 'none' }).value).toBe(
      '<p class="empty" id="t2">C: none</p>',
    );
  });
});

describe('renderReport', () => {
  it('is one document with no script, no stylesheet or image to fetch, and a CSP that forbids them', () => {
    expect(page.startsWith('<!doctype html>')).toBe(true);
    expect(page).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(page).not.toMatch(/<script/i);
    expect(page).not.toMatch(/<(img|link|iframe|object|embed)\b/i);
    // Inside tags only: escaped text (a hostile name) may well read `src=`.
    expect(page).not.toMatch(/<[a-z][^>]*\s(src|srcset)=/i);
    // The only URLs: in-page anchors and links to kubernetes issues (links load nothing).
    const hrefs = [...page.matchAll(/\shref="([^"]*)"/g)].map((m) => m[1]!);
    expect(hrefs.length).toBeGreaterThan(0);
    for (const h of hrefs)
      expect(h).toMatch(/^(#[a-z-]+|https:\/\/github\.com\/kubernetes\/kubernetes\/issues\/\d+)$/);
  });

  it('escapes every user-controlled value: names, reasons, messages, evidence', () => {
    for (const s of Object.values(HOSTILE)) {
      expect(page).not.toContain(s);
      expect(page).toContain(escapeHtml(s));
    }
  });

  it('gives every table a unique id and a caption', () => {
    const ids = [...page.matchAll(/<table id="([^"]+)">\n<caption>[^<]+<\/caption>/g)].map(
      (m) => m[1],
    );
    expect(ids.length).toBe([...page.matchAll(/<table/g)].length);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(
      expect.arrayContaining([
        'test-runs',
        'test-failures',
        'test-skips',
        'persistence-matrix',
        'persistence-known-bugs',
        'persistence-runs',
        'bench-up',
        'bench-control-plane-up',
        'bench-cli',
        'bench-vm',
        'bench-vm-inside',
        'bench-scale-environments',
        'bench-scale',
        'fidelity-summary',
        'fidelity-differences',
      ]),
    );
  });

  it('writes the matrix cells as the Markdown matrix does', () => {
    const t = tableById('persistence-matrix');
    const nft = MATRIX.modes[0]!;
    expect(t).toContain(escapeHtml(cellText(nft.events[0])));
    expect(t).toContain(
      escapeHtml(
        cellText(undefined, nft.failures.find((f) => f.event === 'endpoint-removed')?.error),
      ),
    );
    expect(t).toContain('<th scope="col">ipvs (skipped)</th>');
  });

  it('inlines one chart per scale metric, as SVG', () => {
    const charts = /<div class="charts" id="bench-scale-charts">([\s\S]*?)<\/div>/.exec(page)![1]!;
    expect([...charts.matchAll(/<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/g)]).toHaveLength(
      METRICS.length,
    );
  });

  it('says where it looked for each input that is absent', () => {
    const absent: ReportInputs = {
      generatedAt: inputs.generatedAt,
      results: { path: '/r/<results>', found: false },
      matrix: { path: '/m.json', found: false },
      bench: { path: '/b', found: false },
      fidelity: { path: '/docs/fidelity/fidelity.json', found: false },
    };
    const p = renderReport(absent);
    expect(p).toContain('no test results found at /r/&lt;results&gt;');
    expect(p).toContain('no persistence matrix found at /m.json');
    expect(p).toContain('no benchmark reports found at /b');
    expect(p).toContain(
      '<p class="missing" id="fidelity-missing">no fidelity report found at /docs/fidelity/fidelity.json</p>',
    );
    expect(p).not.toMatch(/<table/);
  });
});
