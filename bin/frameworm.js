#!/usr/bin/env node
// Launcher for the compiled CLI (npm run build writes dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/main/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('frameworm: error: the CLI is not built; run `npm run build` in the package folder\n');
  process.exit(1);
}
await import(entry.href);
