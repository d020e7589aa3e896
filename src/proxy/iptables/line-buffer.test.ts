import { describe, expect, it } from 'vitest';
import { LineBuffer, NONE, RestoreText } from './line-buffer.js';

describe('LineBuffer and RestoreText', () => {
  it('joins arguments with spaces, flattening lists, and cuts rules per chain at flush', () => {
    const rules = new LineBuffer().reset(['KUBE-SVC-A', 'KUBE-SEP-B']);
    rules.write(
      '-A',
      'KUBE-SEP-B',
      ['-m', 'comment', '--comment', 'ns/web:http'],
      '-s',
      '10.0.0.1',
    );
    rules.write('-A', 'KUBE-SVC-A', NONE, '-j', 'KUBE-SEP-B');
    rules.write('-A', 'KUBE-SEP-B', [], '-j', 'DNAT', [], '--to-destination', '10.0.0.1:80');
    const text = new RestoreText();
    const [svc, sep] = text.append(rules, 2);
    const target = { all: '' };
    text.section(0, text.size, target, 'all');
    text.flush();
    expect(svc).toEqual(['-j KUBE-SEP-B']);
    expect(sep).toEqual([
      '-m comment --comment ns/web:http -s 10.0.0.1',
      '-j DNAT --to-destination 10.0.0.1:80',
    ]);
    expect(target.all).toBe(
      [
        '-A KUBE-SEP-B -m comment --comment ns/web:http -s 10.0.0.1',
        '-A KUBE-SVC-A -j KUBE-SEP-B',
        '-A KUBE-SEP-B -j DNAT --to-destination 10.0.0.1:80',
        '',
      ].join('\n'),
    );
  });

  it('refuses a rule for a chain the port did not declare, with few chains and with many', () => {
    const few = new LineBuffer().reset(['KUBE-SVC-A']);
    expect(() => few.write('-A', 'KUBE-SVC-B', '-j', 'ACCEPT')).toThrow(
      /undeclared chain KUBE-SVC-B/,
    );
    const many = new LineBuffer().reset(Array.from({ length: 40 }, (_, i) => `KUBE-SEP-${i}`));
    many.write('-A', 'KUBE-SEP-39', '-j', 'ACCEPT');
    expect(many.chainOf.slice(0, many.ruleCount)).toEqual([39]);
    expect(() => many.write('-A', 'KUBE-SEP-40', '-j', 'ACCEPT')).toThrow(/undeclared chain/);
  });

  it('keeps the text of several ports apart and starts empty after a flush', () => {
    const text = new RestoreText();
    const lines = new LineBuffer();
    const first = text.append(lines.reset(['C']).declare(['KUBE-SVC-A']), 1);
    const mid = text.size;
    lines.reset(['C']).write('-A', 'C', '-j', 'RETURN');
    const [second] = text.append(lines, 1);
    const a = { decl: '', rule: '' };
    text.section(0, mid, a, 'decl');
    text.section(mid, text.size, a, 'rule');
    text.flush();
    expect(first).toEqual([NONE]);
    expect(second).toEqual(['-j RETURN']);
    expect(a).toEqual({ decl: ':KUBE-SVC-A - [0:0]\n', rule: '-A C -j RETURN\n' });
    expect(text.size).toBe(0);
  });
});
