import { markup, raw } from './html.js';
import type { ReportInputs } from './inputs.js';
import { benchSection } from './sections/bench.js';
import { fidelitySection } from './sections/fidelity.js';
import { matrixSection } from './sections/matrix.js';
import { testsSection } from './sections/tests.js';

// Inline only: the page is one file that opens from a CI artifact or a mail attachment, offline.
const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
h3 .file { font-weight: normal; color: #666; font-size: 0.85em; }
nav a { margin-right: 1em; }
.meta, .note { color: #555; }
.missing { font-style: italic; color: #8a5a00; }
.ok { color: #1a7f37; font-weight: bold; }
.fail { color: #c62828; font-weight: bold; }
table { border-collapse: collapse; margin: 0.8em 0 1.4em; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.pre, pre { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 0.9em; margin: 0; }
details pre { background: #f6f6f6; padding: 0.5em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.charts figure { margin: 0; flex: 1 1 480px; max-width: 720px; }
.charts svg { width: 100%; height: auto; }
`;

/**
 * The report page: the last test run, the persistence matrix, the benchmarks and the fidelity
 * report, as one HTML document with inline CSS and inline SVG. It has no script and loads
 * nothing: the Content-Security-Policy says so too, should an input ever slip past escaping.
 */
export function renderReport(inputs: ReportInputs): string {
  const page = markup`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta
          http-equiv="Content-Security-Policy"
          content="default-src 'none'; style-src 'unsafe-inline'"
        />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>svclab report</title>
        <style>
          ${raw(CSS)}
        </style>
      </head>
      <body>
        <header>
          <h1>svclab report</h1>
          <p class="meta">Generated ${inputs.generatedAt} by svclab report.</p>
          <nav>
            <a href="#tests">Last test run</a><a href="#persistence">Persistence matrix</a
            ><a href="#bench">Benchmarks</a><a href="#fidelity">Fidelity</a>
          </nav>
        </header>
        <section id="tests">${testsSection(inputs.results)}</section>
        <section id="persistence">${matrixSection(inputs.matrix)}</section>
        <section id="bench">${benchSection(inputs.bench)}</section>
        <section id="fidelity">${fidelitySection(inputs.fidelity)}</section>
      </body>
    </html> `;
  return page.value;
}
