import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../cli/package-root.js';
import { AGENT_IMAGE, AGNHOST_IMAGE } from './kubeconfig/names.js';
import { CLUSTER_VERSIONS, CLUSTER_VERSIONS_FILE, readClusterVersions } from './versions.js';

const tmp = mkdtempSync(join(tmpdir(), 'svclab-versions-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const workflow = readFileSync(join(packageRoot(), '.github', 'workflows', 'kind.yml'), 'utf8');

describe('cluster-versions.json: kind, node image and Kubernetes in one place', () => {
  it('the node image is the pinned Kubernetes version, by digest', () => {
    expect(
      CLUSTER_VERSIONS.nodeImage.startsWith(`kindest/node:${CLUSTER_VERSIONS.kubernetes}@sha256:`),
    ).toBe(true);
  });

  it('the code takes its defaults from it', () => {
    if (!process.env.SVCLAB_AGENT_IMAGE) expect(AGENT_IMAGE).toBe(CLUSTER_VERSIONS.agentImage);
    if (!process.env.SVCLAB_AGNHOST_IMAGE)
      expect(AGNHOST_IMAGE).toBe(CLUSTER_VERSIONS.agnhostImage);
  });

  it('the kind workflow reads it and pins no version of its own', () => {
    expect(workflow).toContain('cluster-versions.json');
    expect(workflow).not.toMatch(/\bv0\.\d+\.\d+\b|kindest\/node:|agnhost:\d|node:\d+-alpine/);
    const doc = parse(workflow) as { jobs: Record<string, { steps: Record<string, unknown>[] }> };
    for (const [name, job] of Object.entries(doc.jobs)) {
      const kindAction = job.steps.find((s) => String(s.uses ?? '').startsWith('helm/kind-action'));
      expect(kindAction?.with, name).toMatchObject({ version: '${{ env.KIND_VERSION }}' });
    }
    expect(
      doc.jobs['kubeconfig-provider']!.steps.find((s) =>
        String(s.uses ?? '').startsWith('helm/kind-action'),
      )?.with,
    ).toMatchObject({ node_image: '${{ env.KIND_NODE_IMAGE }}' });
  });

  it('a malformed field is named', () => {
    const bad = join(tmp, 'v.json');
    const doc = JSON.parse(readFileSync(CLUSTER_VERSIONS_FILE, 'utf8'));
    writeFileSync(bad, JSON.stringify({ ...doc, nodeImage: 'kindest/node:v1.37.0' }));
    expect(() => readClusterVersions(bad)).toThrow(/nodeImage must match/);
  });
});
