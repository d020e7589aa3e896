import type { Command } from 'commander';
import { Option } from 'commander';
import { providerOfLab } from '../../cluster/providers.js';
import { summarizeAttempts } from '../../traffic/agent-client.js';
import type { L4 } from '../../traffic/protocol.js';
import { UsageError } from '../errors.js';
import { printJson, table } from '../format.js';
import { selectLab } from '../lab-select.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`${name} must be a non-negative integer, got "${v}"`);
  return n;
};

export function register(program: Command): void {
  program
    .command('probe')
    .description(
      'send requests from a pod, node or external host and summarise who answered and what source they saw',
    )
    .argument('<from>', 'pod, node or external host that sends')
    .argument(
      '<target>',
      'IP:PORT | service[:port] | nodeport/service[:port]@node | externalip/service[:port] | lb/service[:port] | host:PORT',
    )
    .option('--lab <name>', 'lab (default: the only one)')
    .option('--count <n>', 'attempts', int('--count'), 10)
    .option('--concurrency <n>', 'attempts in flight', int('--concurrency'), 1)
    .option('--timeout <ms>', 'per-attempt deadline', int('--timeout'), 2000)
    .option('--source-port <port>', 'fixed client source port (UDP flows)', int('--source-port'))
    .addOption(
      new Option('--protocol <p>', "tcp or udp (default: the Service port's)").choices([
        'tcp',
        'udp',
      ]),
    )
    .option('--json', 'machine-readable output (every attempt)')
    .action(async (from: string, targetSpec: string, o) => {
      const name = await selectLab(o.lab);
      const lab = await (await providerOfLab(name)).attach(name);
      try {
        const dest = lab.destination(targetSpec, o.protocol as L4 | undefined);
        const obs = await lab.probe(from, dest, {
          count: o.count,
          concurrency: o.concurrency,
          timeoutMs: o.timeout,
          sourcePort: o.sourcePort,
        });
        const summary = summarizeAttempts(obs.attempts);
        if (o.json) return printJson({ ...obs, summary });
        const out = [
          `${from} -> ${dest.description} (${dest.protocol}): ${summary.ok}/${summary.total} answered`,
        ];
        if (Object.keys(summary.backends).length > 0)
          out.push(
            '',
            table(
              ['BACKEND', 'ANSWERS'],
              Object.entries(summary.backends).map(([b, n]) => [b, n]),
            ),
          );
        if (Object.keys(summary.sourceIPs).length > 0)
          out.push(
            '',
            table(
              ['SOURCE SEEN BY BACKEND', 'ANSWERS'],
              Object.entries(summary.sourceIPs).map(([b, n]) => [b, n]),
            ),
          );
        if (Object.keys(summary.failures).length > 0)
          out.push(
            '',
            table(
              ['FAILURE', 'COUNT'],
              Object.entries(summary.failures).map(([b, n]) => [b, n]),
            ),
          );
        if (summary.ok > 0)
          out.push(
            '',
            `latency p50 ${summary.latency.p50.toFixed(2)} ms, p99 ${summary.latency.p99.toFixed(2)} ms`,
          );
        process.stdout.write(out.join('\n') + '\n');
        if (summary.ok === 0) process.exitCode = 1;
      } finally {
        await lab.detach();
      }
    });
}
