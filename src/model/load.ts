/**
 * Reading a topology file: bytes → UTF-8 text → YAML → apiVersion/kind → schema → cross-field
 * checks → allocation. Each stage reports every problem it finds; a later stage runs only on what
 * an earlier one accepted (there is no point checking clusterIP ranges in a file that is not a
 * Topology). The first stages bound what a hostile file can cost (limits.ts).
 */
import { API_VERSION, KIND } from './defaults.js';
import { show, utf8Length } from './echo.js';
import { IssueList, TopologyError } from './issues.js';
import { MAX_TOPOLOGY_BYTES } from './limits.js';
import { addressPlan } from './networking.js';
import { decodeUtf8, readBounded, tooLargeMessage } from './read-text.js';
import { parseYaml } from './read-yaml.js';
import { resolveTopology } from './resolve.js';
import { TopologyInput } from './schema.js';
import type { Topology } from './types.js';
import { validateTopology } from './validate.js';
import { addZodIssues } from './zod-issues.js';

export interface ParseOptions {
  /** Name used in issue lines; default `<input>`. */
  file?: string;
}

/** Parses and resolves a topology; throws TopologyError listing every problem. */
export function parseTopology(text: string, options: ParseOptions = {}): Topology {
  const file = options.file ?? '<input>';
  const out = new IssueList();
  const fail = () => new TopologyError(file, out);

  // Checked on the text too: callers that build the text themselves get the same bound.
  if (text.length > MAX_TOPOLOGY_BYTES || utf8Length(text) > MAX_TOPOLOGY_BYTES) {
    out.error([], tooLargeMessage(utf8Length(text)));
    throw fail();
  }
  const data = parseYaml(text, out);
  if (out.hasErrors) throw fail();
  return resolveDocument(data, out, fail);
}

/**
 * Validates and resolves a topology given as data (what the YAML file would hold, e.g. written
 * in a test); throws TopologyError listing every problem, each with its path.
 */
export function topologyFromObject(data: unknown, options: ParseOptions = {}): Topology {
  const file = options.file ?? '<object>';
  const out = new IssueList();
  return resolveDocument(data, out, () => new TopologyError(file, out.issues));
}

function resolveDocument(data: unknown, out: IssueList, fail: () => TopologyError): Topology {
  checkTypeMeta(data, out);
  if (out.hasErrors) throw fail();

  // jitless: zod compiles a parser per object schema on first use, which a one-shot parse of one
  // file (every CLI command, every suite) pays for and never earns back (~10 ms).
  const parsed = TopologyInput.safeParse(data, { reportInput: true, jitless: true });
  if (!parsed.success) {
    addZodIssues(out, TopologyInput, parsed.error.issues);
    throw fail();
  }
  const plan = addressPlan(parsed.data);
  validateTopology(parsed.data, plan, out);
  if (out.hasErrors) throw fail();
  const topology = resolveTopology(parsed.data, plan, out);
  if (!topology) throw fail();
  return topology;
}

/** Like parseTopology, from the file's bytes: refuses more than 1 MiB and anything not UTF-8. */
export function parseTopologyBytes(bytes: Uint8Array, options: ParseOptions = {}): Topology {
  const file = options.file ?? '<input>';
  const out = new IssueList();
  if (bytes.length > MAX_TOPOLOGY_BYTES) out.error([], tooLargeMessage(bytes.length));
  const text = out.hasErrors ? undefined : decodeUtf8(bytes, out);
  if (text === undefined) throw new TopologyError(file, out);
  return parseTopology(text, { file });
}

/** Reads, parses and resolves a topology file; issues name the file by `path` as given. */
export async function loadTopology(path: string): Promise<Topology> {
  const { bytes, size } = await readBounded(path);
  if (size !== undefined || bytes.length > MAX_TOPOLOGY_BYTES) {
    // Not all of it was read: a regular file's size is known, a pipe's is not.
    const out = new IssueList();
    out.error([], tooLargeMessage(size));
    throw new TopologyError(path, out);
  }
  return parseTopologyBytes(bytes, { file: path });
}

/**
 * apiVersion and kind first, like any Kubernetes decoder: a file of another kind or version
 * gets one clear message instead of a field-by-field complaint about a format it is not.
 */
function checkTypeMeta(data: unknown, out: IssueList): void {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const got = data === null || data === undefined ? 'an empty document' : show(data);
    out.error(
      [],
      `expected a mapping with apiVersion: ${API_VERSION} and kind: ${KIND}, got ${got}`,
    );
    return;
  }
  const { apiVersion, kind } = data as Record<string, unknown>;
  if (apiVersion === undefined) out.error(['apiVersion'], `Required value: must be ${API_VERSION}`);
  else if (apiVersion !== API_VERSION) {
    out.error(
      ['apiVersion'],
      `Unsupported value: ${show(apiVersion)}: supported values: "${API_VERSION}"`,
    );
  }
  if (kind === undefined) out.error(['kind'], `Required value: must be ${KIND}`);
  else if (kind !== KIND)
    out.error(['kind'], `Unsupported value: ${show(kind)}: supported values: "${KIND}"`);
}
