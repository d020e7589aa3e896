import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mapLimit, run } from '../exec/index.js';

/**
 * The lab's certificates, made with openssl (node:crypto cannot issue X.509 certificates): one
 * CA per lab, a serving certificate for kube-apiserver and one client certificate per user.
 * ECDSA P-256 because it is fast to generate (RSA 2048 takes a visible fraction of a second per
 * key on this machine). The identities are the ones the API server's bootstrap RBAC policy binds
 * (plugin/pkg/auth/authorizer/rbac/bootstrappolicy): `system:kube-controller-manager`,
 * `system:kube-proxy` (ClusterRoleBinding system:node-proxier) and the `system:masters` group.
 */
export interface ClientIdentity {
  file: string;
  commonName: string;
  organization?: string | undefined;
}

export const CLIENTS: readonly ClientIdentity[] = [
  { file: 'admin', commonName: 'svclab-admin', organization: 'system:masters' },
  { file: 'kube-controller-manager', commonName: 'system:kube-controller-manager' },
  { file: 'kube-proxy', commonName: 'system:kube-proxy' },
  // The lab kubelet writes Node and Pod status for every node; node authorization would limit it
  // to one node, so it acts as a cluster admin (it is svclab, not a real kubelet).
  { file: 'svclab-kubelet', commonName: 'svclab-kubelet', organization: 'system:masters' },
];

export interface PkiOptions {
  lab: string;
  dir: string;
  /** Names and addresses the API server is reached by. */
  serverSANs: { dns: string[]; ip: string[] };
  days?: number;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function createPki(opts: PkiOptions): Promise<void> {
  const { dir } = opts;
  const days = String(opts.days ?? 365);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const f = (name: string) => join(dir, name);
  await run('openssl', [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    days,
    '-subj',
    `/CN=svclab-${opts.lab}-ca`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const san = [
    ...opts.serverSANs.dns.map((d) => `DNS:${d}`),
    ...opts.serverSANs.ip.map((i) => `IP:${i}`),
  ].join(',');
  // `req -x509 -CA` (OpenSSL 3) issues a CA-signed certificate in one step.
  const leaf = (name: string, subj: string, usage: string, extra: string[] = []) =>
    run('openssl', [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.crt`),
      '-days',
      days,
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-subj',
      subj,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature',
      '-addext',
      `extendedKeyUsage=${usage}`,
      ...extra,
    ]);
  const jobs: (() => Promise<unknown>)[] = [
    () =>
      leaf('apiserver', '/CN=kube-apiserver', 'serverAuth', ['-addext', `subjectAltName=${san}`]),
    ...CLIENTS.map(
      (c) => () =>
        leaf(
          c.file,
          `${c.organization ? `/O=${c.organization}` : ''}/CN=${c.commonName}`,
          'clientAuth',
        ),
    ),
    // The ServiceAccount token signing key pair (the API server refuses to start without one).
    async () => {
      await run('openssl', [
        'genpkey',
        '-algorithm',
        'EC',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-out',
        f('sa.key'),
      ]);
      await run('openssl', ['pkey', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub')]);
    },
  ];
  await mapLimit(jobs, 4, (j) => j());
  await writeFile(f('README'), `Certificates of svclab lab ${opts.lab}; removed with the lab.\n`);
}

export function pkiPaths(dir: string) {
  const f = (name: string) => join(dir, name);
  return {
    caCert: f('ca.crt'),
    caKey: f('ca.key'),
    serverCert: f('apiserver.crt'),
    serverKey: f('apiserver.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
    client: (file: string) => ({ cert: f(`${file}.crt`), key: f(`${file}.key`) }),
  };
}
