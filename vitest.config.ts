import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // Each test file gets its own database, so files run in parallel safely.
    pool: 'forks',
    // Console output of passing tests is dropped: what a failing test printed stands out.
    silent: 'passed-only',
    testTimeout: 30_000,
    // Whole-service files start and stop a ledger double, a daemon and a database in their hooks;
    // on a loaded 2-core CI machine that teardown has been seen to exceed a minute.
    hookTimeout: 120_000,
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/fast-check-seed.ts'],
  },
});
