import { describe, expect, it } from 'vitest';
import { joinHostPort, normalizeIP, splitHostPort } from './addr.js';

describe('socket addresses as agnhost prints them', () => {
  it.each([
    ['10.0.0.1', 80, '10.0.0.1:80'],
    ['::ffff:10.0.0.1', 80, '10.0.0.1:80'],
    ['fd00::1', 8080, '[fd00::1]:8080'],
  ])('joinHostPort(%s, %i) = %s', (ip, port, want) => {
    expect(joinHostPort(ip, port)).toBe(want);
    expect(splitHostPort(want)).toEqual({ ip: normalizeIP(ip), port });
  });

  it.each([
    '',
    'web-a',
    '10.0.0.1',
    '10.0.0.1:',
    '10.0.0.1:99999',
    'fd00::1:80',
    '[fd00::1]',
    ':80',
    '1.2.3.4:8o',
  ])('splitHostPort(%j) is undefined', (text) => {
    expect(splitHostPort(text)).toBeUndefined();
  });
});
