export interface Stats {
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
  mean: number;
}

export function stats(values: number[]): Stats {
  const v = [...values].sort((a, b) => a - b);
  const q = (p: number) =>
    v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))] ?? NaN;
  return {
    n: v.length,
    min: v[0] ?? NaN,
    median:
      v.length % 2
        ? v[(v.length - 1) / 2]!
        : ((v[v.length / 2 - 1] ?? NaN) + (v[v.length / 2] ?? NaN)) / 2,
    p99: q(0.99),
    max: v[v.length - 1] ?? NaN,
    mean: v.reduce((a, b) => a + b, 0) / (v.length || 1),
  };
}
