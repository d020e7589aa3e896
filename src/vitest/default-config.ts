import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The vitest config `svclab test <files>` uses for a project that has none of its own: the files
 * named on the command line (SVCLAB_TEST_FILES, a JSON list), svclab's global setup, lab-sized
 * timeouts, and one file at a time (labs are cheap, the cores are not).
 */
const files = JSON.parse(process.env.SVCLAB_TEST_FILES ?? '[]') as string[];

export default defineConfig({
  test: {
    include: files.length > 0 ? files : ['**/*.test.ts'],
    globalSetup: [fileURLToPath(new URL('./global-setup.js', import.meta.url))],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    poolOptions: { forks: { singleFork: true } },
  },
});
