// Builds the renderer into renderer/dist. `base: './'` because Electron loads the page from
// file:// (absolute /assets/... URLs would resolve to the filesystem root), and web mode serves
// the same files from its own origin.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No source maps in the shipped bundle: they double its size and the app is not debugged there.
    sourcemap: false,
    // Inline assets would need `data:` in script-src/style-src; keep every asset a file.
    assetsInlineLimit: 0,
    // recharts is most of the bundle; one file loads faster from disk than a split one, and
    // the bundle size is tracked by the benchmark rather than by this warning.
    chunkSizeWarningLimit: 1024,
  },
});
