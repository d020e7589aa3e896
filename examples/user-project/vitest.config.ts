import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts'],
    globalSetup: ['svclab/vitest/global-setup'],
    // Labs take a second or two to build; one suite file at a time.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    poolOptions: { forks: { singleFork: true } },
  },
});
