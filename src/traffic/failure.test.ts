import { describe, expect, it } from 'vitest';
import { classifyError, DeadlineError, failureOf } from './failure.js';

const errno = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

describe('failure classification', () => {
  it.each([
    ['ECONNREFUSED', 'refused'],
    ['EHOSTUNREACH', 'unreachable'],
    ['ENETUNREACH', 'unreachable'],
    ['ECONNRESET', 'reset'],
    ['EPIPE', 'reset'],
    ['ETIMEDOUT', 'timeout'],
    ['EADDRINUSE', 'error'],
  ])('%s -> %s', (code, failure) => {
    expect(classifyError(errno(code)).failure).toBe(failure);
  });

  it('keeps the detail of unclassified errors and names our own deadlines', () => {
    expect(classifyError(errno('EADDRINUSE')).detail).toBe('EADDRINUSE: connect EADDRINUSE');
    expect(classifyError('weird').detail).toBe('weird');
    expect(failureOf(new DeadlineError('connect: no answer to SYN within 5ms'))).toEqual({
      failure: 'timeout',
      detail: 'connect: no answer to SYN within 5ms',
    });
  });
});
