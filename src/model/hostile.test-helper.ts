/**
 * Invalid topologies too big to commit, made at test time. Each has its expected lines in
 * topologies/testdata/invalid/<name>.errors.txt like the committed cases; the golden test parses
 * them in process and the CLI e2e test writes them to files and runs `svclab validate` and `up`.
 */
import { MAX_ALIASES, MAX_TOPOLOGY_BYTES } from './limits.js';

const HEAD = `apiVersion: svclab.dev/v1alpha1
kind: Topology
metadata: { name: hostile }
spec:
  nodes: [{ name: node-a }]
`;

export const GENERATED_INVALID: Record<string, () => string> = {
  /** The issue's case: a 10 MB pod name. Refused by size before parsing. */
  'file-too-large': () =>
    `${HEAD}  pods: [{ name: "${'a'.repeat(10 * 1024 * 1024)}", node: node-a }]\n`,

  /** Just inside the size limit: the name is echoed cut, the message stays short. */
  'long-pod-name': () => {
    const name = 'a'.repeat(MAX_TOPOLOGY_BYTES - HEAD.length - 100);
    return `${HEAD}  pods: [{ name: "${name}", node: node-a }]\n`;
  },

  /** ~1 MiB of `[`: the composer would recurse half a million levels. */
  'deep-nesting-huge': () => {
    const depth = Math.floor((MAX_TOPOLOGY_BYTES - HEAD.length - 100) / 2);
    return `${HEAD}  pods: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
  },

  /** 20 levels of 20 aliases each: 20^20 nodes if expanded. */
  'alias-bomb-huge': () => {
    const levels = Array.from({ length: 20 }, (_, i) =>
      i === 0
        ? `  l0: &l0 [${Array(20).fill('lol').join(', ')}]`
        : `  l${i}: &l${i} [${Array(20)
            .fill(`*l${i - 1}`)
            .join(', ')}]`,
    );
    return `${HEAD}  bomb:\n${levels.map((l) => `  ${l}`).join('\n')}\n`;
  },

  /** Many aliases, each harmless: yaml resolves them in quadratic time. */
  'too-many-aliases': () => {
    const n = MAX_ALIASES + 1;
    const anchors = Array.from({ length: n }, (_, i) => `    - &h${i} { name: h${i} }`);
    const uses = Array.from({ length: n }, (_, i) => `*h${i}`).join(', ');
    return `${HEAD}  externalHosts:\n${anchors.join('\n')}\n  pods: [${uses}]\n`;
  },

  /** Few aliases of one large anchor, under maxAliasCount: 40 × 30,000 nodes. */
  'alias-expansion': () =>
    `${HEAD}  pods: &big [${Array(30_000).fill('1').join(',')}]\n  externalHosts: [${Array(40).fill('*big').join(',')}]\n`,

  /** One mapping of 60,000 labels, the last a duplicate: yaml's own check is quadratic. */
  'many-keys': () => {
    const labels = Array.from({ length: 60_000 }, (_, i) => `k${i}: v`);
    return `${HEAD}  externalHosts: [{ name: h, labels: {${labels.join(', ')}, k0: w} }]\n`;
  },

  /** A YAML error whose library message repeats the offending source. */
  'yaml-error-echo': () => `${HEAD}  pods: |${'z'.repeat(5000)}\n`,

  /** 10,000 bad pods: 10,000 errors, 50 listed. */
  'many-errors': () =>
    `${HEAD}  pods:\n${Array.from({ length: 10_000 }, (_, i) => `    - { name: Pod${i}, node: node-a }`).join('\n')}\n`,
};
