/** The topology model: the resolved types, and loading a topology file into them. */
export * from './types.js';
export {
  loadTopology,
  parseTopology,
  parseTopologyBytes,
  topologyFromObject,
  type ParseOptions,
} from './load.js';
export { TopologyError, formatIssue } from './issues.js';
export { topologySchemaJson } from './json-schema.js';
export { TopologyInput } from './schema.js';
export { API_VERSION, KIND, NETWORKING_DEFAULTS, NODE_PORT_RANGE } from './defaults.js';
export * as ipam from './ipam.js';
