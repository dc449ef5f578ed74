// Component and store tests of the renderer: jsdom, Testing Library. A project of the root
// vitest config, so `npx vitest run renderer` and the full `vitest run` both pick it up.
import { defineProject } from 'vitest/config';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineProject({
  root,
  plugins: [react()],
  test: {
    name: 'renderer',
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    environment: 'jsdom',
    setupFiles: ['test/setup.ts'],
    allowOnly: false,
  },
});
