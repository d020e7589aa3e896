/**
 * YAML text → plain data, for files nobody vouches for. `yaml.parse` alone would let a file cost
 * without bound: thousands of nested levels overflow the composer's stack, aliases expand
 * exponentially ("billion laughs"), a self-containing alias makes a cycle that every later stage
 * would follow forever, and the library's own duplicate-key and alias checks are quadratic. So the
 * stages are run one by one here, each with its limit (limits.ts), and every refusal is a message
 * for the user, not the library's.
 */
import {
  Composer,
  Lexer,
  LineCounter,
  Parser,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type CST,
  type Document,
  type Pair,
} from 'yaml';
import { clip, quote } from './echo.js';
import type { IssueList, Path } from './issues.js';
import {
  MAX_ALIASES,
  MAX_ALIAS_EXPANSIONS,
  MAX_EXPANDED_NODES,
  MAX_ISSUE_BYTES,
  MAX_NESTING_DEPTH,
} from './limits.js';

type Doc = Document.Parsed;

/** Parses one YAML document; on any problem reports it to `out` and returns undefined. */
export function parseYaml(text: string, out: IssueList): unknown {
  const lines = new LineCounter();
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  const { docs, tooDeepAt } = compose(text, lines);
  if (tooDeepAt !== undefined) {
    out.error(
      [],
      `mappings and lists are nested more than ${MAX_NESTING_DEPTH} levels deep (at ${at(tooDeepAt)}); a topology needs about 7`,
    );
    return undefined;
  }
  if (docs.length > 1) {
    out.error(
      [],
      `holds ${docs.length} YAML documents (the second starts at ${at(docs[1]?.range[0] ?? 0)}); a topology file holds one Topology: remove the "---" separator or split the file`,
    );
    return undefined;
  }
  const doc = docs[0];
  if (!doc) return null;
  for (const e of doc.errors) {
    out.error([], `YAML syntax error: ${clip(e.message, MAX_ISSUE_BYTES / 2)} at ${at(e.pos[0])}`);
  }
  for (const w of doc.warnings) {
    // Explicit tags (!!binary, !!set, !custom) would make values no field accepts, or none at all.
    if (w.code !== 'TAG_RESOLVE_FAILED') continue;
    const tag = w.message.replace(/^Unresolved tag: /, '').replace(/^tag:yaml\.org,2002:/, '!!');
    out.error(
      [],
      `unsupported YAML tag ${clip(tag, 64)} at ${at(w.pos[0])}: a topology holds only mappings, lists, strings, numbers, booleans and null`,
    );
  }
  if (out.hasErrors) return undefined;

  const shape = checkStructure(doc, out, at);
  if (out.hasErrors) return undefined;
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    out.error(
      [],
      message.startsWith('Excessive alias count')
        ? `YAML aliases expand too far: an anchor is expanded more than ${MAX_ALIAS_EXPANSIONS} times, counting aliases within aliases, which is how an alias bomb ("billion laughs") is built; write the repeated parts out instead`
        : `cannot read the YAML: ${clip(message, MAX_ISSUE_BYTES / 2)}`,
    );
    return undefined;
  }
  if (shape.expandedNodes > MAX_EXPANDED_NODES) {
    out.error(
      [],
      `YAML aliases expand this file to more than ${MAX_EXPANDED_NODES} nodes; write the repeated parts out, or share smaller ones`,
    );
    return undefined;
  }
  return data;
}

const COLLECTIONS = new Set(['block-map', 'block-seq', 'flow-collection']);

/**
 * Lexes, parses and composes, refusing deep nesting on the way: the parser keeps its open
 * collections on an explicit stack, so depth is known before the (recursive) composer runs.
 */
function compose(text: string, lines: LineCounter): { docs: Doc[]; tooDeepAt?: number } {
  const parser = new Parser(lines.addNewLine);
  let tooDeepAt: number | undefined;
  const depth = (stack: readonly CST.Token[]) =>
    stack.filter((t) => COLLECTIONS.has(t.type)).length;
  function* tokens(): Generator<CST.Token> {
    lines.addNewLine(0);
    for (const lexeme of new Lexer().lex(text)) {
      yield* parser.next(lexeme);
      if (parser.stack.length > MAX_NESTING_DEPTH && depth(parser.stack) > MAX_NESTING_DEPTH) {
        tooDeepAt = parser.offset;
        return;
      }
    }
    yield* parser.end();
  }
  // uniqueKeys off: its check is quadratic in a mapping's size; checkStructure does it in one pass.
  // resolveKnownTags off: !!binary, !!set, !!timestamp stay unresolved and are refused.
  const composer = new Composer({ uniqueKeys: false, resolveKnownTags: false });
  const docs = [...composer.compose(tokens(), true, text.length)];
  return tooDeepAt === undefined ? { docs } : { docs, tooDeepAt };
}

type YamlNode = NonNullable<Doc['contents']>;

/**
 * One pass over the composed document, before anything expands aliases: duplicate and non-string
 * keys, aliases that resolve to nothing or to a node containing themselves, how many aliases there
 * are, and how many nodes the data has once they are expanded (sizes are memoised per node, and
 * an alias can only name an anchor before it, so this is linear and never follows an alias).
 */
function checkStructure(
  doc: Doc,
  out: IssueList,
  at: (offset: number) => string,
): { expandedNodes: number } {
  const anchors = new Map<string, YamlNode>();
  const sizes = new Map<YamlNode, number>();
  const open = new Set<YamlNode>();
  let aliases = 0;

  const visitPair = (pair: Pair, path: Path, seen: Map<string, number>): number => {
    const key = pair.key as YamlNode | null;
    const offset = key?.range?.[0] ?? 0;
    let name: string | undefined;
    if (key === null) name = '';
    else if (isScalar(key)) name = key.value === null ? '' : String(key.value);
    if (name === undefined) {
      out.error(
        path,
        `a mapping key must be a plain string, not ${isAlias(key) ? 'an alias' : 'a mapping or a list'} (${at(offset)})`,
      );
      return 1 + visit(pair.value as YamlNode | null, path);
    }
    const first = seen.get(name);
    if (first !== undefined) {
      out.error(
        [...path, name],
        `mapping key ${quote(name)} is already defined at ${at(first)} (again at ${at(offset)}); YAML would silently keep the last`,
      );
    } else seen.set(name, offset);
    return 1 + visit(pair.value as YamlNode | null, [...path, name]);
  };

  const visit = (node: YamlNode | null, path: Path): number => {
    if (node === null) return 1;
    if (isAlias(node)) {
      aliases++;
      const target = anchors.get(node.source);
      const where = at(node.range[0]);
      const alias = clip(node.source, 64);
      if (!target) {
        out.error(path, `alias *${alias} (${where}) has no anchor &${alias} before it`);
        return 1;
      }
      if (open.has(target)) {
        out.error(
          path,
          `alias *${alias} (${where}) is inside the node its anchor &${alias} names, so the data would contain itself`,
        );
        return 1;
      }
      return sizes.get(target) ?? 1;
    }
    if (node.anchor) anchors.set(node.anchor, node);
    let size = 1;
    if (isMap(node)) {
      open.add(node);
      const seen = new Map<string, number>();
      for (const pair of node.items) size += visitPair(pair, path, seen);
      open.delete(node);
    } else if (isSeq(node)) {
      open.add(node);
      node.items.forEach((item, i) => {
        // `[a: 1]` is a list holding a one-pair mapping.
        size += isPair(item)
          ? 1 + visitPair(item, [...path, i], new Map())
          : visit(item as YamlNode | null, [...path, i]);
      });
      open.delete(node);
    }
    sizes.set(node, size);
    return size;
  };

  const expandedNodes = visit(doc.contents, []);
  if (aliases > MAX_ALIASES) {
    out.error(
      [],
      `has ${aliases} YAML aliases (*name), more than ${MAX_ALIASES}; write the repeated parts out, or share fewer of them`,
    );
  }
  return { expandedNodes };
}
