/**
 * `svclab` as a library: load and validate a topology, build a lab from it, drive traffic from its
 * pods, nodes and external hosts, and assert what Services promise. `svclab/vitest` adds the
 * vitest fixture and global setup.
 */

// Topologies: loading, validation (every problem with its path), the resolved model.
export {
  loadTopology,
  parseTopology,
  topologyFromObject,
  TopologyError,
  formatIssue,
  topologySchemaJson,
  API_VERSION,
  KIND,
  type ParseOptions,
} from './model/index.js';
export type * from './model/types.js';
export { topologyOfSource, topologyPath, type TopologySource } from './model/source.js';

// Lab lifecycle.
export { startLab, type StartLabOptions } from './cluster/start-lab.js';
export { getProvider, providerOfLab, PROVIDERS, type ProviderName } from './cluster/providers.js';
export { Lab, type Observation, type ProbeOptions } from './cluster/lab.js';
export type { DownReport, LabTarget, Provider, UpOptions } from './cluster/provider.js';
export { suiteConfig, type LabChoice, type SuiteConfig } from './harness/config.js';

// Proxy modes.
export { parseProxyMode, PROXY_MODES } from './proxy/index.js';
export type { ProxyMode, ProxyOptions, SyncResult } from './proxy/types.js';

// Traffic: probes and long-lived flows through a target's agent (`lab.agent(name)`).
export {
  AgentClient,
  AgentError,
  summarizeAttempts,
  type AttemptSummary,
} from './traffic/agent-client.js';
export type {
  Attempt,
  FailureKind,
  FlowCloseReason,
  FlowStatus,
  L4,
  ProbeRequest,
  ProbeResult,
} from './traffic/protocol.js';

// Assertions.
export * from './assertions/index.js';

// Errors every call may throw.
export { ExecError, LabError } from './exec/errors.js';
