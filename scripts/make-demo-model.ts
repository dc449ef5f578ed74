/**
 * Writes the demo model shipped in examples/models: a small seeded MLP as ONNX, so the demo
 * runs on a machine without Python or torch. Re-running it reproduces the same bytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildMlp } from './lib/onnx-builder.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'examples/models/demo-mlp.onnx');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, buildMlp([16, 64, 64, 4], 2026, { input: 'features', output: 'scores' }));
console.log(`wrote ${path.relative(root, out)} (${fs.statSync(out).size} bytes)`);
