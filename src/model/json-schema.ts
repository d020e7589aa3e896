/**
 * The JSON Schema editors use to complete and check topology files (yaml-language-server reads
 * the `$schema` modeline at the top of each file). Generated from the zod schema; the committed
 * copy at schema/topology.schema.json is kept equal to it by json-schema.test.ts.
 */
import * as z from 'zod';
import { TopologyInput } from './schema.js';

export function topologySchemaJson(): Record<string, unknown> {
  // draft-07: the dialect editors' YAML/JSON language servers support best.
  return z.toJSONSchema(TopologyInput, { io: 'input', target: 'draft-7' });
}
