import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 120_000,
    // Integration tests start servers on loopback; two at a time suits a 2-core machine.
    maxWorkers: 2,
  },
});
