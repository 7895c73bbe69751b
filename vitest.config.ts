import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests start real servers and child processes; two cores are shared with them. A bound for a
    // hung test, not a performance check: a slow CI runner must not fail a correct test.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
  },
});
