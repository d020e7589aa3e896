import { describe, expect, it } from 'vitest';
import { parseAgentArgs, parseListen } from './agent-args.js';

const base = [
  '--lab',
  'l1',
  '--name',
  'web-a',
  '--hostname',
  'web-a',
  '--control',
  '/run/l1/web-a.sock',
];

describe('parseAgentArgs', () => {
  it('parses the provider command line', () => {
    expect(
      parseAgentArgs([...base, '--listen', 'tcp:8080,udp:8081', '--delay-shutdown=2.5']),
    ).toEqual({
      lab: 'l1',
      name: 'web-a',
      hostname: 'web-a',
      control: '/run/l1/web-a.sock',
      listen: [
        { protocol: 'tcp', port: 8080 },
        { protocol: 'udp', port: 8081 },
      ],
      delayShutdownMs: 2500,
      ready: true,
    });
  });

  it('takes --not-ready without a value: a pod whose readiness probe fails from the start', () => {
    expect(parseAgentArgs([...base, '--not-ready', '--listen', 'tcp:80'])).toMatchObject({
      ready: false,
      listen: [{ protocol: 'tcp', port: 80 }],
    });
    expect(parseAgentArgs(base).ready).toBe(true);
  });

  it('defaults to no listeners and a 1 s shutdown delay', () => {
    expect(parseAgentArgs(base)).toMatchObject({ listen: [], delayShutdownMs: 1000 });
  });

  it.each([
    [['--lab', 'l1'], /--(name|control) is required/],
    [[...base, '--bogus', 'x'], /unknown flag --bogus/],
    [[...base, 'stray'], /unexpected argument/],
    [[...base, '--listen'], /--listen needs a value/],
    [[...base, '--listen', 'sctp:1'], /bad --listen item/],
    [[...base, '--listen', 'tcp:8080,tcp:8080'], /given twice/],
    [[...base, '--delay-shutdown', 'soon'], /--delay-shutdown/],
    [[...base, '--control', `/${'x'.repeat(120)}`], /Unix socket limit/],
  ])('rejects %j', (argv, error) => {
    expect(() => parseAgentArgs(argv)).toThrow(error);
  });

  it('lets port 0 pick free ports', () => {
    expect(parseListen('tcp:0, udp:0')).toEqual([
      { protocol: 'tcp', port: 0 },
      { protocol: 'udp', port: 0 },
    ]);
  });
});
