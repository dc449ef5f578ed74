import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A stray `.only` must fail every run, not just CI ones: otherwise a green run can test one case.
    allowOnly: false,
    reporters: ['default'],
    // Two projects: the main-process tests above (node) and the renderer's component tests
    // (jsdom; renderer/vitest.config.ts). `vitest run renderer` runs only the latter.
    projects: [{ extends: true, test: { name: 'main' } }, 'renderer/vitest.config.ts'],
  },
});
