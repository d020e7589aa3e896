import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { agentScript } from '../../netns/agents.js';

/**
 * The compiled agent as ConfigMap data: dist/traffic/*.js (it imports only Node built-ins and its
 * siblings, ~130 KB, well under the 1 MiB ConfigMap limit) and a package.json that makes them ESM.
 */
export function agentFiles(): Record<string, string> {
  const dir = dirname(agentScript());
  const files: Record<string, string> = { 'package.json': '{"type":"module"}\n' };
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith('.js'))
    .sort())
    files[f] = readFileSync(join(dir, f), 'utf8');
  return files;
}
