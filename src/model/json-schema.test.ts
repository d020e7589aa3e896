import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { describe, expect, test } from 'vitest';
import { UPDATE_GOLDEN } from './golden.js';
import { topologySchemaJson } from './json-schema.js';

const COMMITTED = fileURLToPath(new URL('../../schema/topology.schema.json', import.meta.url));

/** Formatted as the repo's prettier config formats it, so `prettier --check .` stays clean. */
async function generated(): Promise<string> {
  const options = (await prettier.resolveConfig(COMMITTED)) ?? {};
  return prettier.format(JSON.stringify(topologySchemaJson()), { ...options, filepath: COMMITTED });
}

describe('schema/topology.schema.json', () => {
  test('matches the zod schema', async () => {
    const text = await generated();
    if (UPDATE_GOLDEN) writeFileSync(COMMITTED, text);
    expect(
      readFileSync(COMMITTED, 'utf8'),
      'schema/topology.schema.json is stale: regenerate with SVCLAB_UPDATE_GOLDEN=1 npx vitest run --project unit src/model/json-schema.test.ts',
    ).toBe(text);
  });

  test('is strict and carries defaults for editors', () => {
    const schema = topologySchemaJson() as {
      additionalProperties?: boolean;
      required?: string[];
      properties: {
        spec: { properties: { networking: { properties: Record<string, { default?: unknown }> } } };
      };
    };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    expect(schema.properties.spec.properties.networking.properties.podSubnet?.default).toBe(
      '10.244.0.0/16',
    );
  });
});
