/** A small, dependency-free SVG line chart: log-scaled x (N), one line per series. */

export interface Series {
  name: string;
  points: { x: number; y: number }[];
  /** Dashed, e.g. for numbers measured under emulation. */
  dashed?: boolean;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** 'auto': log when the positive values span more than two decades. */
  yScale?: 'linear' | 'log' | 'auto';
}

const W = 720;
const H = 420;
const M = { top: 40, right: 170, bottom: 50, left: 70 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

export function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 1) return `${+v.toPrecision(3)}`;
  return `${+v.toPrecision(2)}`;
}

function decades(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step / 2; v += step)
    out.push(+v.toPrecision(12));
  return out;
}

export function renderLineChart(c: LineChart): string {
  const pts = c.series
    .flatMap((s) => s.points)
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && p.x > 0);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<title>${escapeXml(c.title)}</title>`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  parts.push(
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(c.title)}</text>`,
  );
  if (pts.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text></svg>`);
    return parts.join('\n') + '\n';
  }
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const xLo = Math.min(...xs);
  const xHi = Math.max(...xs);
  const pos = ys.filter((y) => y > 0);
  const yLog =
    c.yScale === 'log' ||
    (c.yScale !== 'linear' &&
      pos.length === ys.length &&
      Math.max(...pos) / Math.min(...pos) > 100);
  const xTicks = decades(xLo, xHi);
  const xMin = Math.log10(Math.min(xLo, xTicks[0]!));
  const xMax = Math.log10(Math.max(xHi, xTicks[xTicks.length - 1]!));
  const sx = (x: number) =>
    M.left + (xMax === xMin ? pw / 2 : ((Math.log10(x) - xMin) / (xMax - xMin)) * pw);
  let yTicks: number[];
  let sy: (y: number) => number;
  if (yLog) {
    yTicks = decades(Math.min(...pos), Math.max(...pos));
    const lo = Math.log10(yTicks[0]!);
    const hi = Math.log10(yTicks[yTicks.length - 1]!);
    sy = (y) => M.top + ph - (hi === lo ? ph / 2 : ((Math.log10(y) - lo) / (hi - lo)) * ph);
  } else {
    yTicks = niceTicks(Math.min(0, ...ys), Math.max(...ys));
    const lo = yTicks[0]!;
    const hi = yTicks[yTicks.length - 1]!;
    sy = (y) => M.top + ph - (hi === lo ? ph / 2 : ((y - lo) / (hi - lo)) * ph);
  }
  // Axes, grid and labels.
  parts.push(`<g stroke="#ddd">`);
  for (const t of xTicks)
    parts.push(
      `<line x1="${sx(t).toFixed(1)}" y1="${M.top}" x2="${sx(t).toFixed(1)}" y2="${M.top + ph}"/>`,
    );
  for (const t of yTicks)
    parts.push(
      `<line x1="${M.left}" y1="${sy(t).toFixed(1)}" x2="${M.left + pw}" y2="${sy(t).toFixed(1)}"/>`,
    );
  parts.push(`</g>`);
  parts.push(
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
  );
  for (const t of xTicks)
    parts.push(
      `<text x="${sx(t).toFixed(1)}" y="${M.top + ph + 18}" text-anchor="middle">${fmt(t)}</text>`,
    );
  for (const t of yTicks)
    parts.push(
      `<text x="${M.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`,
    );
  parts.push(
    `<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">${escapeXml(c.xLabel)} (log scale)</text>`,
  );
  parts.push(
    `<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(c.yLabel)}${yLog ? ' (log scale)' : ''}</text>`,
  );
  // One polyline and markers per series, legend on the right.
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const ok = s.points
      .filter((p) => p.x > 0 && Number.isFinite(p.y) && (!yLog || p.y > 0))
      .sort((a, b) => a.x - b.x);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (ok.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${ok.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`,
      );
    for (const p of ok)
      parts.push(
        `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${color}"><title>${escapeXml(`${s.name}: N=${p.x}, ${fmt(p.y)}`)}</title></circle>`,
      );
    const ly = M.top + 10 + i * 20;
    parts.push(
      `<line x1="${W - M.right + 12}" y1="${ly}" x2="${W - M.right + 36}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
    );
    parts.push(`<text x="${W - M.right + 42}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
