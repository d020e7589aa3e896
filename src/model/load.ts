/**
 * Reading a topology file: YAML → apiVersion/kind → schema → cross-field checks → allocation.
 * Each stage reports every problem it finds; a later stage runs only on what an earlier one
 * accepted (there is no point checking clusterIP ranges in a file that is not a Topology).
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { API_VERSION, KIND } from './defaults.js';
import { IssueList, TopologyError } from './issues.js';
import { addressPlan } from './networking.js';
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
  const fail = () => new TopologyError(file, out.issues);

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

/** Reads, parses and resolves a topology file; issues name the file by `path` as given. */
export async function loadTopology(path: string): Promise<Topology> {
  const text = await readFile(path, 'utf8');
  return parseTopology(text, { file: path });
}

function parseYaml(text: string, out: IssueList): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  for (const e of doc.errors) {
    // With prettyErrors the first line reads "<what> at line L, column C:", then a code excerpt.
    const first = e.message.split('\n')[0]?.replace(/:$/, '') ?? e.message;
    out.error([], `YAML syntax error: ${first}`);
  }
  if (doc.errors.length > 0) return undefined;
  return doc.toJS();
}

/**
 * apiVersion and kind first, like any Kubernetes decoder: a file of another kind or version
 * gets one clear message instead of a field-by-field complaint about a format it is not.
 */
function checkTypeMeta(data: unknown, out: IssueList): void {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    out.error([], `expected a mapping with apiVersion: ${API_VERSION} and kind: ${KIND}`);
    return;
  }
  const { apiVersion, kind } = data as Record<string, unknown>;
  if (apiVersion === undefined) out.error(['apiVersion'], `Required value: must be ${API_VERSION}`);
  else if (apiVersion !== API_VERSION) {
    out.error(
      ['apiVersion'],
      `Unsupported value: ${JSON.stringify(apiVersion)}: supported values: "${API_VERSION}"`,
    );
  }
  if (kind === undefined) out.error(['kind'], `Required value: must be ${KIND}`);
  else if (kind !== KIND)
    out.error(['kind'], `Unsupported value: ${JSON.stringify(kind)}: supported values: "${KIND}"`);
}
