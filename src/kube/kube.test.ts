import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../cli/errors.js';
import { resolveKubeBinaries } from './binaries.js';
import { versionLdflags } from './build.js';
import { parseComponents, parseKubeVersion } from './versions.js';

const root = join(import.meta.dirname, '..', '..');

describe('Kubernetes releases', () => {
  it('parses releases and derives the staging modules version', () => {
    expect(parseKubeVersion('1.36.3')).toMatchObject({
      version: 'v1.36.3',
      staging: 'v0.36.3',
      minor: 36,
    });
    for (const bad of ['latest', 'v2.0.0', 'v1.37', '1.37.2; rm -rf /'])
      expect(() => parseKubeVersion(bad)).toThrow(UsageError);
    expect(() => parseComponents(['kube-proxy', 'kubelet'])).toThrow(
      /--components: Unsupported value: "kubelet"/,
    );
  });

  it('stamps the version where component-base and client-go read it', () => {
    const flags = versionLdflags(parseKubeVersion('v1.37.2'));
    expect(flags).toContain('-X k8s.io/component-base/version.gitVersion=v1.37.2');
    expect(flags).toContain('-X k8s.io/client-go/pkg/version.gitMinor=37');
  });

  it('pins k8s.io/kubernetes at the default release, every staging module replaced, etcd from its own module', () => {
    const mod = readFileSync(join(root, 'kubebuild', 'go.mod'), 'utf8');
    expect(mod).toMatch(/^\tk8s\.io\/kubernetes v1\.37\.2( \/\/ indirect)?$/m);
    const replaces = [...mod.matchAll(/^replace (\S+) => (\S+) (\S+)$/gm)];
    expect(replaces.length).toBeGreaterThan(25);
    for (const r of replaces) expect([r[1], r[3]]).toEqual([r[2], 'v0.37.2']);
    expect(mod).toMatch(/^\tgo\.etcd\.io\/etcd\/server\/v3 v3\.\d+\.\d+/m);
  });

  it("uses a user's folder as it is, and refuses one that lacks a component", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'svclab-bins-'));
    for (const c of ['etcd', 'kube-apiserver']) {
      writeFileSync(join(dir, c), '#!/bin/sh\n');
      chmodSync(join(dir, c), 0o755);
    }
    const bins = await resolveKubeBinaries(['etcd', 'kube-apiserver'], { binDir: dir });
    expect(bins.source).toBe('user');
    expect(bins.path('etcd')).toBe(join(dir, 'etcd'));
    await expect(resolveKubeBinaries(['etcd', 'kube-proxy'], { binDir: dir })).rejects.toThrow(
      /--kube-bin-dir: .*no executable kube-proxy/,
    );
  });
});
