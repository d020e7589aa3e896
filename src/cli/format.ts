/** Left-aligned columns, like kubectl's tables. */
export function table(header: string[], rows: (string | number | undefined)[][]): string {
  const cells = [
    header,
    ...rows.map((r) => r.map((c) => (c === undefined || c === '' ? '-' : String(c)))),
  ];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
