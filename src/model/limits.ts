/**
 * What reading one topology file may cost. A topology file is untrusted input (CI reads the files
 * of a pull request), so each stage has a bound: a hostile file is refused, with the limit named,
 * before it costs more memory, time or screen than a real topology ever needs. The shipped
 * topologies are 1-4 KB; bench's generator writes ~500 KB for 50 nodes and 2,000 pods.
 */

/** Largest topology file read, in bytes (1 MiB); checked before any of it is parsed. */
export const MAX_TOPOLOGY_BYTES = 1024 * 1024;

/**
 * Deepest nesting of mappings and lists. A topology needs 7 levels
 * (spec.services[].spec.sessionAffinityConfig.clientIP); the YAML composer, zod and the checks all
 * recurse per level, and some thousands of levels exhaust the stack (V8 may then abort the whole
 * process instead of throwing), so depth is measured on the token stream before anything recurses.
 */
export const MAX_NESTING_DEPTH = 64;

/**
 * Alias nodes (`*name`) in one file. The yaml library resolves each alias by scanning the
 * document's anchors and aliases, which is quadratic in their number.
 */
export const MAX_ALIASES = 1000;

/**
 * The yaml library's `maxAliasCount`: how often an anchor may be expanded, weighted by the aliases
 * inside it, so nested aliases ("billion laughs") trip it long before they cost anything.
 */
export const MAX_ALIAS_EXPANSIONS = 1000;

/**
 * YAML nodes (mappings, lists, scalars) once aliases are expanded: what zod and the checks walk.
 * A 1 MiB file without aliases has at most ~500,000; this stops a few aliases of one large anchor.
 */
export const MAX_EXPANDED_NODES = 1_000_000;

/** Bytes of one value echoed in a message; the rest is cut, as Kubernetes' field errors do. */
export const MAX_ECHOED_VALUE_BYTES = 128;

/** Names listed in one message ("no such node (nodes: a, b, ...)"); the rest are counted. */
export const MAX_LISTED_NAMES = 10;

/** Bytes of one issue's path or message: a backstop for messages that echo library text. */
export const MAX_ISSUE_BYTES = 1024;

/** Issues listed for one file; the rest are counted. Fixing the first ones often fixes the rest. */
export const MAX_LISTED_ISSUES = 50;
