/** Number and table formatting shared by the scale report's Markdown sections. */

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} us`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function fmtKiB(k: number | null | undefined): string {
  if (k === null || k === undefined || !Number.isFinite(k)) return '—';
  if (Math.abs(k) < 1024) return `${k.toFixed(0)} KiB`;
  if (Math.abs(k) < 1024 * 1024) return `${(k / 1024).toFixed(1)} MiB`;
  return `${(k / 1024 / 1024).toFixed(2)} GiB`;
}

export function fmtNum(v: number | null | undefined, digits = 2): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** Markdown table cells cannot hold `|` or line breaks. */
export function mdCell(s: string): string {
  return s.replaceAll('|', '\\|').replace(/\r?\n/g, ' ');
}

export function mdTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(mdCell).join(' | ')} |`;
  return [line(head), `|${head.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}
