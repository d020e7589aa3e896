import { describe, expect, it } from 'vitest';
import { summarizeAttempts, type Topology } from 'svclab';
import { useLab } from 'svclab/vitest';

// The project's own topology, by a path relative to the project; the proxy mode comes from the
// environment (SVCLAB_PROXY, default iptables) unless given here.
const f = useLab('topologies/echo.yaml');

describe.skipIf(f.skip)(`echo Service (${f.config.label})`, () => {
  it('answers from both backends and keeps the client pod IP', async () => {
    const obs = await f.lab.probe('client', f.lab.service('echo').clusterIP('http'), { count: 20 });
    await f.expect.answeredBy(obs, ['echo-a', 'echo-b'], { all: true });
    await f.expect.sourcePreserved(obs, f.ip('client'));
    expect(summarizeAttempts(obs.attempts).ok).toBe(20);
  });

  it('reads the topology back with its types', () => {
    const t: Topology = f.topology;
    expect(t.services.map((s) => s.name)).toEqual(['echo']);
  });
});
