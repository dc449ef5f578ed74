/**
 * `npm run bench`: every benchmark of the project, printed as one markdown table with targets.
 * Ratios compare paths measured side by side in the same run on the same machine.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { DockerClient, dockerSocketPath } from '../../main/docker/docker-client.js';
import { runArchitectureBench } from './architecture-bench.js';
import { runBatchingBench } from './batching-bench.js';
import { runContainerBench } from './container-bench.js';
import { runDriftBench } from './drift-bench.js';
import { runDriftLiveBench } from './drift-live-bench.js';
import { formatBenchTable, runEmbeddedBench } from './embedded-bench.js';
import { runGuardBench } from './guard-bench.js';
import { runGuiBench } from './gui-bench.js';
import { runTimingBench } from './timing-bench.js';
import { runTensorBench } from './tensor-bench.js';
import { runSwarmBench } from './swarm-bench.js';

const t0 = performance.now();
console.log('## Embedded runtime vs raw onnxruntime-node\n');
console.log(formatBenchTable(await runEmbeddedBench()));
console.log('\n## FRAMEWORM architectures\n');
console.log(formatBenchTable(await runArchitectureBench()));
console.log('\n## Dynamic and continuous batching (embedded runtime, on vs off in the same run)\n');
console.log(formatBenchTable(await runBatchingBench()));
console.log('\n## Drift statistics (simulated windows, α = 0.05)\n');
console.log(formatBenchTable(runDriftBench()));
console.log('\n## Drift on a real generator: DCGAN output power, /predict throughput with drift on vs off\n');
console.log(formatBenchTable(await runDriftLiveBench()));
const docker = await DockerClient.connect(dockerSocketPath()).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
console.log('\n## Time bounds of behaviours the tests check\n');
console.log(formatBenchTable(await runTimingBench({ docker: !(docker instanceof Error) })));
console.log('\n## The guard: automatic rollback and alerts\n');
// `--no-guard-docker` leaves out the guard's docker rollback (two image builds, about a minute).
console.log(formatBenchTable(await runGuardBench({ docker: !(docker instanceof Error) && !process.argv.includes('--no-guard-docker') })));
console.log('\n## The GUI in Chromium (web mode): bundle, first paint, event → UI, chart updates\n');
console.log(formatBenchTable(await runGuiBench()));
console.log('\n## Docker target\n');
if (docker instanceof Error) console.log(`Not measured: ${docker.message}. Run scripts/setup.sh --test to install and start dockerd.`);
else console.log(formatBenchTable(await runContainerBench({ client: docker })));
console.log('\n## Binary tensors (safetensors) and docker-target forwarding\n');
console.log(formatBenchTable(await runTensorBench({ docker: docker instanceof Error ? null : docker })));
console.log('\n## Swarm target (one-node swarm): replicas, rolling update and task kill under load\n');
if (docker instanceof Error) console.log(`Not measured: ${docker.message}.`);
else console.log(formatBenchTable(await runSwarmBench({ client: docker })));
console.log(`\n${os.cpus().length} CPUs, Node ${process.version}, onnxruntime-node ${ort.env.versions.node ?? '?'}; took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
