import { defineConfig } from 'vitest/config';
import { deadlineScale } from './src/exec/deadlines.js';

// Inside the VM runner (software emulation) everything runs several times slower: the same
// tests, with their deadlines scaled (src/exec/deadlines.ts).
const scale = deadlineScale();

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
          testTimeout: 60_000 * scale,
          hookTimeout: 120_000 * scale,
          globalSetup: ['src/harness/global-setup.ts'],
        },
      },
    ],
  },
});
