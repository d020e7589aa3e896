import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { LabError } from '../exec/index.js';
import type { KubeComponent } from '../kube/versions.js';
import {
  APISERVER_PORT,
  CONTROLLER_MANAGER_PORT,
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  type ControlPlaneFiles,
} from './layout.js';
import { pkiPaths } from './pki.js';

/**
 * The control plane's processes and their flags, kept close to what kubeadm and the upstream
 * integration tests (hack/lib/etcd.sh, test/integration/framework) pass, minus what a lab does
 * not need. Everything listens on the control-plane namespace's own addresses.
 */
export interface ControlPlaneConfig {
  lab: string;
  ip: string;
  serviceCIDR: string;
  nodePortRange: string;
  files: ControlPlaneFiles;
}

export function etcdArgs(c: ControlPlaneConfig): string[] {
  const client = `http://127.0.0.1:${ETCD_CLIENT_PORT}`;
  const peer = `http://127.0.0.1:${ETCD_PEER_PORT}`;
  return [
    `--name=svclab-${c.lab}`,
    `--data-dir=${c.files.etcdData}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=svclab-${c.lab}=${peer}`,
    // The data is a lab's, on tmpfs, thrown away with it: fsync buys nothing (upstream's
    // integration tests run etcd the same way).
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

/** Controllers a lab needs: EndpointSlices and their friends, and the housekeeping they rely on. */
export const LAB_CONTROLLERS = [
  'endpointslice-controller',
  'endpointslice-mirroring-controller',
  'endpoints-controller',
  'service-cidr-controller',
  'namespace-controller',
  'garbage-collector-controller',
] as const;

export function apiserverArgs(c: ControlPlaneConfig): string[] {
  const pki = pkiPaths(c.files.pki);
  return [
    `--etcd-servers=http://127.0.0.1:${ETCD_CLIENT_PORT}`,
    `--bind-address=${c.ip}`,
    `--advertise-address=${c.ip}`,
    `--secure-port=${APISERVER_PORT}`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--service-cluster-ip-range=${c.serviceCIDR}`,
    `--service-node-port-range=${c.nodePortRange}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    '--authorization-mode=RBAC',
    // As kubeadm and kind run it: privileged pods (kube-proxy's DaemonSet, svclab's debug pods on
    // cluster providers) are allowed; the API server's default refuses them.
    '--allow-privileged=true',
    // As kubeadm sets it: node-proxy requests (`/api/v1/nodes/<n>/proxy`, how the kubeconfig
    // provider reads kube-proxy's metrics) dial the Node's InternalIP; the default order tries
    // Hostname first, which nothing resolves here (a 10 s DNS wait per request).
    '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
    // Pods are registered by the lab kubelet without ServiceAccount tokens (there is no kubelet
    // to mount them); everything else stays at the default admission chain.
    '--disable-admission-plugins=ServiceAccount',
    '--profiling=false',
    '--v=1',
  ];
}

export function controllerManagerArgs(c: ControlPlaneConfig): string[] {
  const kubeconfig = c.files.kubeconfig('kube-controller-manager');
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    `--controllers=${LAB_CONTROLLERS.join(',')}`,
    `--bind-address=${c.ip}`,
    `--secure-port=${CONTROLLER_MANAGER_PORT}`,
    '--leader-elect=false',
    // Each controller acts as its own ServiceAccount (kube-system/endpointslice-controller...),
    // which the bootstrap RBAC policy binds to its role; the manager's own identity may do
    // little more than mint those tokens (TokenRequest), as in a kubeadm cluster.
    '--use-service-account-credentials=true',
    // EndpointSlice updates are batched for up to this long (default 0: every change at once,
    // which is what a lab waiting for its endpoints wants).
    '--endpointslice-updates-batch-period=0s',
    '--profiling=false',
    '--v=1',
  ];
}

export interface ComponentRecord {
  component: KubeComponent | 'svclab-kubelet';
  pid: number;
  log: string;
  argv: string[];
}

/**
 * Starts a component inside the control-plane namespace, detached (it outlives `svclab up`),
 * its output appended to its log in the lab folder. Teardown finds it by its namespace.
 */
export function startInNetns(
  netns: string,
  component: ComponentRecord['component'],
  argv: string[],
  log: string,
  env: NodeJS.ProcessEnv = process.env,
): ComponentRecord {
  const fd = openSync(log, 'a');
  const child = spawn('ip', ['netns', 'exec', netns, ...argv], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env,
  });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new LabError(`failed to start ${component} (log: ${log})`);
  return { component, pid: child.pid, log, argv };
}
