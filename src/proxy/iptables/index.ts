export { createIptablesProxy, iptablesCommands } from './proxy.js';
export {
  planIptables,
  probability,
  type IptablesPlan,
  type PlanCounts,
  type PlanInput,
  type SyncStrategy,
} from './plan.js';
export { planHooks, type HooksPlan } from './hooks.js';
export { JUMP_HOOKS, MASQUERADE_MARK, isServiceChainName, type JumpHook } from './chains.js';
export {
  normalizeChains,
  normalizeRule,
  parseSave,
  tokenize,
  type Ruleset,
  type Table,
} from './ruleset.js';
export { tracePacket, type Packet, type TraceOptions, type TraceOutcome } from './tracer.js';
