/**
 * `npm run bench`: every benchmark of the project, printed as one markdown table with targets.
 * Ratios compare paths measured side by side in the same run on the same machine.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { runArchitectureBench } from './architecture-bench.js';
import { formatBenchTable, runEmbeddedBench } from './embedded-bench.js';

const t0 = performance.now();
console.log('## Embedded runtime vs raw onnxruntime-node\n');
console.log(formatBenchTable(await runEmbeddedBench()));
console.log('\n## FRAMEWORM architectures\n');
console.log(formatBenchTable(await runArchitectureBench()));
console.log(`\n${os.cpus().length} CPUs, Node ${process.version}, onnxruntime-node ${ort.env.versions.node ?? '?'}; took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
