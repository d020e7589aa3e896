import { describe, expect, it } from 'vitest';
import type { Attempt } from '../traffic/protocol.js';
import { chiSquareUniform, regularizedGammaP } from './stats.js';
import * as v from './verdicts.js';

const ans = (backend: string, sourceIP = '10.244.0.2'): Attempt => ({
  ok: true,
  backend,
  sourceIP,
  latencyMs: 1,
  startedAtMs: 0,
});
const failed = (failure: Attempt['failure']): Attempt => ({
  ok: false,
  failure,
  latencyMs: 1,
  startedAtMs: 0,
});
const many = (n: number, f: (i: number) => Attempt) => Array.from({ length: n }, (_, i) => f(i));

describe('chi-square', () => {
  it('matches known p-values', () => {
    // df=2: p = exp(-x/2).
    expect(1 - regularizedGammaP(1, 13.8155 / 2)).toBeCloseTo(0.001, 5);
    // df=1, x=3.841: p = 0.05.
    expect(1 - regularizedGammaP(0.5, 3.841 / 2)).toBeCloseTo(0.05, 3);
    // df=4, x=9.488: p = 0.05.
    expect(1 - regularizedGammaP(2, 9.488 / 2)).toBeCloseTo(0.05, 3);
  });

  it('accepts an even split and rejects a lopsided one', () => {
    expect(chiSquareUniform([20, 21, 19]).pValue).toBeGreaterThan(0.9);
    expect(chiSquareUniform([58, 1, 1]).pValue).toBeLessThan(1e-10);
  });
});

describe('verdicts', () => {
  it('affinity needs 15 identical answers', () => {
    expect(v.affinityHolds(many(15, () => ans('a'))).pass).toBe(true);
    expect(v.affinityHolds(many(14, () => ans('a'))).pass).toBe(false);
    expect(v.affinityHolds(many(15, (i) => ans(i === 14 ? 'b' : 'a'))).pass).toBe(false);
    expect(v.affinityHolds([...many(14, () => ans('a')), failed('timeout')]).pass).toBe(false);
  });

  it('spread requires every backend, no stranger, and a plausible uniform split', () => {
    const even = many(60, (i) => ans(['a', 'b', 'c'][i % 3]!));
    expect(v.spreadEvenly(even, ['a', 'b', 'c']).pass).toBe(true);
    expect(v.spreadEvenly(even, ['a', 'b']).pass).toBe(false);
    expect(v.spreadEvenly(even, ['a', 'b', 'c', 'd']).pass).toBe(false);
    const lopsided = many(60, (i) => ans(i < 56 ? 'a' : i < 58 ? 'b' : 'c'));
    const verdict = v.spreadEvenly(lopsided, ['a', 'b', 'c']);
    expect(verdict.pass).toBe(false);
    expect(verdict.message).toContain('chi-square');
  });

  it('tells preserved from translated sources', () => {
    const preserved = many(3, () => ans('a', '10.244.0.2'));
    expect(v.sourcePreserved(preserved, '10.244.0.2').pass).toBe(true);
    expect(v.sourceNatted(preserved, { clientIP: '10.244.0.2' }).pass).toBe(false);
    const natted = many(3, () => ans('a', '172.18.0.2'));
    expect(v.sourcePreserved(natted, '10.244.0.2').pass).toBe(false);
    expect(v.sourceNatted(natted, { clientIP: '10.244.0.2', to: ['172.18.0.2'] }).pass).toBe(true);
    expect(v.sourceNatted(natted, { clientIP: '10.244.0.2', to: ['172.18.0.3'] }).pass).toBe(false);
  });

  it('distinguishes refused from timed out', () => {
    expect(v.rejected(many(3, () => failed('refused'))).pass).toBe(true);
    expect(v.rejected([failed('refused'), failed('timeout')]).pass).toBe(false);
    expect(v.rejected([]).pass).toBe(false);
    expect(v.droppedSilently(many(2, () => failed('timeout'))).pass).toBe(true);
    expect(v.notAnswered([failed('refused'), failed('timeout')]).pass).toBe(true);
    expect(v.notAnswered([failed('refused'), ans('a')]).pass).toBe(false);
  });

  it('puts what was seen into the failure message', () => {
    const msg = v.answeredBy([ans('a'), ans('b')], ['a']).message;
    expect(msg).toContain('"a":1');
    expect(msg).toContain('"b":1');
  });
});
