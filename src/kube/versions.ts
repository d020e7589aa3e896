import { UsageError } from '../cli/errors.js';

/**
 * Kubernetes releases svclab builds from the Go module proxy. k8s.io/kubernetes is published
 * there as v1.X.Y; its staging modules (k8s.io/api, client-go, kube-proxy, ...) as v0.X.Y, and the
 * main module requires them at v0.0.0 with replaces a dependency's go.mod cannot pass on, so a
 * consumer replaces each one (kubernetes/kubernetes#79384, golang/go#32776).
 */
export const DEFAULT_KUBE_VERSION = 'v1.37.2';

/** Releases the Go module proxy here was seen to serve (2026-12); others are tried on request. */
export const KNOWN_KUBE_VERSIONS = ['v1.36.3', 'v1.37.2'] as const;

/** The programs a lab runs, and the main package each is built from. */
export const KUBE_COMPONENTS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-proxy',
  'kubectl',
] as const;
export type KubeComponent = (typeof KUBE_COMPONENTS)[number];

export const COMPONENT_PACKAGES: Record<KubeComponent, string> = {
  // etcd's own main package (server/main.go calls etcdmain.Main); `go install` of it fails on
  // etcd's replace directives, building it as a dependency of our module does not.
  etcd: 'go.etcd.io/etcd/server/v3',
  'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
  'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
  'kube-proxy': 'k8s.io/kubernetes/cmd/kube-proxy',
  kubectl: 'k8s.io/kubernetes/cmd/kubectl',
};

export interface KubeVersion {
  /** `v1.37.2` */
  version: string;
  major: number;
  minor: number;
  patch: number;
  /** The staging modules' version for this release: `v0.37.2`. */
  staging: string;
}

/** Parses `v1.37.2` or `1.37.2`; anything else is bad input (exit 2) naming what is accepted. */
export function parseKubeVersion(value: string, field = '--kube-version'): KubeVersion {
  const m = /^v?(1)\.(\d{1,3})\.(\d{1,3})$/.exec(value.trim());
  if (!m)
    throw new UsageError(
      `${field}: Invalid value: ${JSON.stringify(value.slice(0, 64))}: must be a Kubernetes release like ${DEFAULT_KUBE_VERSION} (known here: ${KNOWN_KUBE_VERSIONS.join(', ')})`,
    );
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return {
    version: `v${major}.${minor}.${patch}`,
    major,
    minor,
    patch,
    staging: `v0.${minor}.${patch}`,
  };
}

export function parseComponents(values: readonly string[]): KubeComponent[] {
  const bad = values.filter((v) => !(KUBE_COMPONENTS as readonly string[]).includes(v));
  if (bad.length > 0)
    throw new UsageError(
      `--components: Unsupported value: ${bad.map((b) => JSON.stringify(b.slice(0, 40))).join(', ')}: supported values: ${KUBE_COMPONENTS.join(', ')}`,
    );
  return [...new Set(values)] as KubeComponent[];
}
