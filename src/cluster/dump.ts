import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import type { ControlPlane } from '../controlplane/handle.js';
import { join, resolve } from 'node:path';
import type { Lab, Observation } from './lab.js';
import { labDir } from './state.js';
import { run } from '../exec/index.js';

export interface DumpOptions {
  /** Why the dump was taken (a failed assertion's message, a failed phase). */
  reason?: string | undefined;
  /** Observations that led to it, written beside the rules. */
  observations?: Observation[] | undefined;
  /** Parent folder; default $SVCLAB_DUMP_DIR or ./svclab-dumps. */
  dir?: string | undefined;
}

export function dumpRoot(dir?: string): string {
  return resolve(dir ?? process.env.SVCLAB_DUMP_DIR ?? 'svclab-dumps');
}

/**
 * One folder per dump, one file per section per node: what a dataplane engineer reads first when
 * a Service misbehaves. Sections that fail to collect say why instead of vanishing.
 */
export async function writeDump(lab: Lab, opts: DumpOptions): Promise<string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(dumpRoot(opts.dir), `${lab.name}-${stamp}`);
  await mkdir(dir, { recursive: true });
  const summary = {
    lab: lab.name,
    provider: lab.backend.provider,
    proxyMode: lab.proxyMode,
    proxyOptions: lab.proxyOptions,
    kubeProxy: lab.controlPlane?.record.kubeProxy,
    reason: opts.reason,
    takenAt: new Date().toISOString(),
  };
  await writeFile(join(dir, 'summary.json'), JSON.stringify(summary, null, 2));
  await writeFile(join(dir, 'topology.json'), JSON.stringify(lab.topology, null, 2));
  await writeFile(
    join(dir, 'endpoints.json'),
    JSON.stringify(
      lab.proxyState.servicePorts.map((sp) => ({
        service: sp.name,
        clusterIP: sp.service.clusterIP,
        port: sp.port,
        endpoints: sp.endpoints,
      })),
      null,
      2,
    ),
  );
  if (opts.observations)
    await writeFile(join(dir, 'observations.json'), JSON.stringify(opts.observations, null, 2));

  const sections = async (target: string, collect: () => Promise<Record<string, string>>) => {
    const tdir = join(dir, target);
    await mkdir(tdir, { recursive: true });
    let data: Record<string, string>;
    try {
      data = await collect();
    } catch (err) {
      data = { error: `failed to collect: ${err instanceof Error ? err.message : String(err)}` };
    }
    for (const [name, text] of Object.entries(data))
      await writeFile(join(tdir, `${name}.txt`), text);
  };

  for (const t of lab.targets()) {
    if (t.kind === 'pod' && t.hostNetwork) continue;
    await sections(t.name, () => lab.backend.networkDump(t.name));
    if (t.kind === 'node') await sections(t.name, () => lab.proxyDump(t.name));
  }
  for (const [target, log] of Object.entries(lab.backend.agentLogs())) {
    await mkdir(join(dir, target), { recursive: true });
    await copyFile(log, join(dir, target, 'agent.log')).catch(() => undefined);
  }
  await copyFile(
    join(labDir(lab.name), 'logs', 'commands.jsonl'),
    join(dir, 'commands.jsonl'),
  ).catch(() => undefined);
  const cp = lab.controlPlane;
  if (cp) await dumpControlPlane(cp, join(dir, 'control-plane'));
  return dir;
}

/** The control plane's logs and the lab's API objects as `kubectl get -o yaml` shows them. */
async function dumpControlPlane(cp: ControlPlane, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const c of cp.record.components)
    await copyFile(c.log, join(dir, `${c.component}.log`)).catch(() => undefined);
  const kubectl = join(cp.record.binDir, 'kubectl');
  const r = await run(
    kubectl,
    [
      '--kubeconfig',
      cp.files.adminKubeconfig,
      'get',
      'nodes,pods,services,endpointslices',
      '-A',
      '-o',
      'yaml',
    ],
    { netns: cp.record.netns, allowFailure: true, timeoutMs: 20_000 },
  );
  await writeFile(join(dir, 'objects.yaml'), r.stdout || `kubectl failed: ${r.stderr}`);
}
