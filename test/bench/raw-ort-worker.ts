/**
 * The raw baseline of the embedded benchmark: plain onnxruntime-node `session.run` on a worker
 * thread, with no HTTP, JSON, validation or metrics. It runs where the embedded runtime runs its
 * inferences (a worker thread, one intra-op thread) and wakes up the same way (the same spin
 * after an answer), so the difference between the two paths is the serving stack alone.
 *
 * Protocol: workerData `{ modelPath, spinMs }`; posts `{ type: 'ready' }` once loaded, then
 * answers each `{ id, data, dims }` (float32 input `x`) with `{ id, data }` (the first output,
 * its buffer transferred back as the embedded worker does).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';

/** Start-up data of the raw worker. */
export interface RawWorkerInit {
  readonly modelPath: string;
  readonly spinMs: number;
}

/** One inference request to the raw worker. */
export interface RawRequest {
  readonly id: number;
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** The raw worker's answers. */
export type RawAnswer = { readonly type: 'ready' } | { readonly type: 'result'; readonly id: number; readonly data: Float32Array };

const port = parentPort;
if (port) {
  const init = workerData as RawWorkerInit;
  const session = await ort.InferenceSession.create(init.modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const outputName = session.outputNames[0]!;
  let active = 0;
  const onMessage = (msg: RawRequest): void => {
    active++;
    void session.run({ x: new ort.Tensor('float32', msg.data, [...msg.dims]) }).then((out) => {
      const data = (out[outputName] as ort.Tensor).data as Float32Array;
      port.postMessage({ type: 'result', id: msg.id, data } satisfies RawAnswer, [data.buffer as ArrayBuffer]);
      if (--active === 0) spin();
    });
  };
  // The same short spin as main/serving/inference-worker.ts: without it the raw path would pay
  // a thread wake-up per request that the embedded path avoids, and the overhead would read low.
  const spin = (): void => {
    const until = performance.now() + init.spinMs;
    while (performance.now() < until) {
      const next = receiveMessageOnPort(port);
      if (next) return onMessage(next.message as RawRequest);
    }
  };
  port.on('message', onMessage);
  port.postMessage({ type: 'ready' } satisfies RawAnswer);
}
