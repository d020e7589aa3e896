import { defineConfig } from 'vitest/config';

// Two projects: unit tests sit beside the code they test and never touch the kernel;
// e2e suites build real labs and run serially (labs are cheap, but two cores are not).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
          exclude: ['src/**/*.e2e.test.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['src/**/*.e2e.test.ts', 'suites/**/*.test.ts'],
          // Labs are cheap but this machine has two cores: one suite file at a time keeps e2e
          // results about the dataplane, not about CPU starvation.
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 60_000,
          hookTimeout: 120_000,
          globalSetup: ['src/harness/global-setup.ts'],
        },
      },
    ],
  },
});
