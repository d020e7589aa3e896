import type { Topology } from '../../model/types.js';
import { packageDir } from '../common/agents.js';
import { attachLab, createLab } from '../common/lab-flow.js';
import type { Lab } from '../lab.js';
import type { DownReport, Provider, UpOptions } from '../provider.js';
import { labDir } from '../state.js';
import { startDockerAgents } from './agents.js';
import { DockerBackend } from './backend.js';
import { requireDocker } from './client.js';
import { ensureNodeImage, nodeImage } from './image.js';
import { provisionDockerLab } from './provision.js';
import { listDockerLabs, sweepDockerLabs, teardownDockerLab } from './teardown.js';

/**
 * `--provider docker`: nodes and external hosts are containers on an internal Docker network
 * (the node network), pods are network namespaces inside their node's container, wired exactly
 * as in the netns lab, and svclab's own proxy modes program each node container through
 * `docker exec`. Needs a Docker daemon (scripts/docker/start-dockerd.sh starts one that leaves the
 * host's network alone) and the node image (built locally when missing).
 */
export class DockerProvider implements Provider {
  readonly name = 'docker';

  async up(topology: Topology, opts: UpOptions): Promise<Lab> {
    await requireDocker();
    const image = nodeImage();
    return createLab({
      provider: this.name,
      topology,
      opts,
      backend: (lab, state, topo) => new DockerBackend(lab, topo, () => state),
      phases: ({ name, dir, state, saveState }) => [
        { title: 'node image', run: () => ensureNodeImage(image) },
        {
          title: 'provision containers',
          run: () =>
            provisionDockerLab(
              name,
              topology,
              {
                image,
                mounts: {
                  nodeBinary: process.execPath,
                  packageDir: packageDir(),
                  labDir: labDir(name),
                },
              },
              async (rec) => {
                state.extra = {
                  ...state.extra,
                  image,
                  network: rec.network,
                  containers: rec.containers,
                };
                await saveState();
              },
            ),
        },
        {
          title: 'start agents',
          run: async () => {
            const agents = await startDockerAgents(name, dir, topology, (r) =>
              state.agents.push(r),
            );
            await saveState();
            return `${agents.length} agents`;
          },
        },
      ],
      teardown: teardownDockerLab,
    });
  }

  attach(labName: string): Promise<Lab> {
    return attachLab(
      this.name,
      labName,
      (state, topo) => new DockerBackend(labName, topo, () => state),
    );
  }

  down(labName: string): Promise<DownReport> {
    return teardownDockerLab(labName);
  }

  list(): Promise<string[]> {
    return listDockerLabs();
  }

  sweep(opts: { all?: boolean } = {}): Promise<DownReport[]> {
    return sweepDockerLabs(opts);
  }
}
