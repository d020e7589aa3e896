import { describe, expect, test } from 'vitest';
import { clip, listNames, quote, show } from './echo.js';

describe('quote', () => {
  test.each([
    ['web', '"web"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['a\nb\tc\r', '"a\\nb\\tc\\r"'],
    ['\u001b[2J\u0000\u007f\u0085', '"\\u001b[2J\\u0000\\u007f\\u0085"'],
    ['\u202eevil\u200b', '"\\u202eevil\\u200b"'],
    ['\u2028\u2029', '"\\u2028\\u2029"'],
    ['\ud800', '"\\ud800"'],
    ['café ✓', '"café ✓"'],
  ])('%j → %s', (value, expected) => {
    expect(quote(value)).toBe(expected);
  });

  test('cuts after 128 bytes and says how many bytes were cut', () => {
    expect(quote('a'.repeat(1000))).toBe(`"${'a'.repeat(128)}"...(truncated 872 bytes)`);
  });

  test('cuts between characters, counting bytes of what was cut', () => {
    // 'é' is 2 bytes: 64 fit in 128, the other 36 (72 bytes) are cut.
    expect(quote('é'.repeat(100))).toBe(`"${'é'.repeat(64)}"...(truncated 72 bytes)`);
  });

  test('counts escapes against the budget, so escaped output stays bounded too', () => {
    // Each NUL is written as 6 bytes: 21 fit.
    expect(quote('\u0000'.repeat(100))).toBe(`"${'\\u0000'.repeat(21)}"...(truncated 79 bytes)`);
  });
});

describe('show', () => {
  test.each([
    [Infinity, '.inf'],
    [-Infinity, '-.inf'],
    [NaN, '.nan'],
    [1e23, '1e+23'],
    [true, 'true'],
    [null, 'null'],
    [[1], 'a list'],
    [{ a: 1 }, 'a mapping'],
  ])('%s → %s', (value, expected) => {
    expect(show(value)).toBe(expected);
  });
});

test('clip escapes without quoting and cuts', () => {
  expect(clip('line1\nline2 "ok"', 100)).toBe('line1\\nline2 "ok"');
  expect(clip('x'.repeat(20), 8)).toBe('xxxxxxxx...(truncated 12 bytes)');
});

test('listNames lists ten and counts the rest', () => {
  const names = Array.from({ length: 12 }, (_, i) => `n${i}`);
  expect(listNames(names.slice(0, 10))).toBe(names.slice(0, 10).join(', '));
  expect(listNames(names)).toBe(`${names.slice(0, 10).join(', ')}, and 2 more`);
});
