/**
 * Chi-square goodness of fit against a uniform distribution: the p-value that counts this
 * uneven (or more) arise from a fair spread. Used instead of "at least two backends answered",
 * which passes for a proxy that sends 98% of traffic to one endpoint.
 */
export function chiSquareUniform(counts: number[]): {
  statistic: number;
  df: number;
  pValue: number;
} {
  const n = counts.reduce((a, b) => a + b, 0);
  const k = counts.length;
  if (k < 2 || n === 0) return { statistic: 0, df: Math.max(0, k - 1), pValue: 1 };
  const expected = n / k;
  const statistic = counts.reduce((a, c) => a + (c - expected) ** 2 / expected, 0);
  const df = k - 1;
  return { statistic, df, pValue: 1 - regularizedGammaP(df / 2, statistic / 2) };
}

/** P(a, x) by its series (x < a + 1) or continued fraction (Numerical Recipes, gser/gcf). */
export function regularizedGammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  const gln = logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let del = sum;
    for (let ap = a, i = 0; i < 500; i++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-14) break;
    }
    return sum * Math.exp(-x + a * Math.log(x) - gln);
  }
  let b = x + 1 - a;
  let c = 1 / 1e-300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 500; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-14) break;
  }
  return 1 - Math.exp(-x + a * Math.log(x) - gln) * h;
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9).
  const g = 7;
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}
