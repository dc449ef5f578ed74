/**
 * Inference worker thread: owns one onnxruntime-node InferenceSession.
 *
 * onnxruntime-node's `session.run` blocks the thread it runs on for the whole inference, so it
 * lives here, off the main thread, where HTTP, metrics and the rollback watcher must stay live.
 * Protocol (see tensor-types.ts): on start it loads the model, runs a warm-up inference with
 * zeros and posts `ready` with the graph I/O (or `load-error`); then it answers `run` messages
 * with `result` / `run-error`, transferring output buffers back; `close` releases the session.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import {
  isTensorDtype,
  prepareTransfer,
  splitRows,
  type FromWorker,
  type RunPart,
  type ModelIo,
  type OutputEncoding,
  type TensorData,
  type TensorDtype,
  type TensorInfo,
  type TensorValue,
  type ToWorker,
  type WorkerInit,
} from './tensor-types.js';
import { encodeOutputBytes } from './json-text.js';

const port = parentPort;
if (!port) throw new Error('inference-worker.ts must run as a worker thread');
const init = workerData as WorkerInit;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return meta.map((m) => (m.isTensor ? { name: m.name, dtype: m.type, shape: [...m.shape] } : { name: m.name, dtype: 'non-tensor', shape: [] }));
}

function zeros(dtype: TensorDtype, n: number): TensorData {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'float16': return new Uint16Array(n);
    case 'int8': return new Int8Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
    case 'int16': return new Int16Array(n);
    case 'uint16': return new Uint16Array(n);
    case 'int32': return new Int32Array(n);
    case 'uint32': return new Uint32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint64': return new BigUint64Array(n);
    case 'string': return new Array<string>(n).fill('');
  }
}

function toOrt(t: TensorValue): ort.Tensor {
  // The casts bridge our dtype/data pairing (checked by the schemas) to ort's overloads.
  return new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.dims);
}

function fromOrt(value: ort.OnnxValue, name: string): TensorValue {
  const t = value as ort.Tensor;
  if (!isTensorDtype(t.type)) throw new Error(`output '${name}' has type ${t.type}, which the server cannot return`);
  return { dtype: t.type, dims: [...t.dims], data: t.data as TensorData };
}

/** Zero feeds with every dynamic dimension set to 1, or null when an input cannot be faked. */
function warmupFeeds(io: ModelIo, given: WorkerInit['warmupDims']): Record<string, ort.Tensor> | null {
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of io.inputs) {
    if (!isTensorDtype(input.dtype)) return null;
    // Fully convolutional graphs have dynamic H/W too, where 1 is no valid size: callers pass real shapes.
    const dims = given?.[input.name] ?? input.shape.map((d) => (typeof d === 'number' ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    feeds[input.name] = toOrt({ dtype: input.dtype, dims, data: zeros(input.dtype, n) });
  }
  return feeds;
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  let io: ModelIo;
  try {
    session = await ort.InferenceSession.create(init.modelPath, {
      intraOpNumThreads: init.threads,
      // One op at a time per request; parallelism across requests comes from the worker pool.
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    });
    io = { inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) };
  } catch (err) {
    post({ type: 'load-error', message: `cannot load ONNX model ${init.modelPath}: ${errorMessage(err)}` });
    return;
  }

  let warmupMs = -1;
  const feeds = warmupFeeds(io, init.warmupDims);
  if (feeds) {
    const t0 = performance.now();
    try {
      await session.run(feeds);
    } catch (err) {
      post({ type: 'load-error', message: `warm-up inference with zeros failed: ${errorMessage(err)}` });
      await session.release();
      return;
    }
    warmupMs = performance.now() - t0;
  }
  post({ type: 'ready', io, warmupMs });

  const onMessage = (msg: ToWorker): void => {
    if (msg.type === 'close') {
      closing = true;
      // The main thread waits for in-flight runs before closing; finishing them first anyway
      // keeps a session from being released under a run.
      if (active === 0) shutDown();
      return;
    }
    if (msg.type === 'crash') {
      // A test hook: outside tests nothing may make a serving worker die on purpose.
      if (init.testHooks === true) throw new Error('simulated inference worker crash');
      return;
    }
    if (msg.type === 'fail-runs') {
      if (init.testHooks === true) failRuns = msg.count;
      return;
    }
    if (failRuns > 0) {
      failRuns--;
      post({ type: 'run-error', id: msg.id, message: 'simulated inference failure (test hook)' });
      return;
    }
    active++;
    void run(session, msg.id, msg.feeds, msg.encode, msg.parts).then(() => {
      if (--active > 0) return;
      if (closing) shutDown();
      else spin();
    });
  };
  const shutDown = (): void => {
    void session.release().finally(() => {
      post({ type: 'closed' });
      port!.close();
    });
  };
  let closing = false;
  let active = 0;
  /** Runs still to fail on purpose (the 'fail-runs' test hook). */
  let failRuns = 0;
  /**
   * After a result, poll for the next request for a moment before going back to sleep in the
   * event loop. On VMs waking a sleeping thread is slow (measured on the 2-vCPU dev machine: a
   * postMessage round trip 34 µs → 13 µs with the spin; /predict p50 about 0.1 ms lower), so a
   * short spin keeps a steady stream of requests fast; an idle worker still sleeps. Only when
   * nothing else is queued here: spinning blocks this thread's event loop.
   */
  const spin = (): void => {
    if (closing || init.spinMs <= 0) return;
    const until = performance.now() + init.spinMs;
    while (performance.now() < until) {
      const next = receiveMessageOnPort(port!);
      if (next) return onMessage(next.message as ToWorker);
    }
  };
  port!.on('message', onMessage);
}

/**
 * Outputs from this many elements up are JSON-encoded here rather than on the main thread.
 * Measured on 2 cores: a 12,288-float DCGAN image is ~2.2 ms of number formatting (worth moving
 * off the main thread: 16-client throughput 167 → 218 req/s with one worker), while a 256-float
 * output costs less than the hand-off it would save (MLP bench: 16-client throughput 1.0× → 0.7×
 * raw when every output was encoded here).
 */
const ENCODE_HERE_FROM = 4096;

/** The JSON / PNG bytes of the outputs `encode` names, or null when none is worth encoding here. */
function encodeHere(outputs: Readonly<Record<string, TensorValue>>, encode: Readonly<Record<string, OutputEncoding>> | undefined, extra: ArrayBuffer[]): Record<string, Uint8Array> | null {
  let encoded: Record<string, Uint8Array> | null = null;
  for (const [name, encoding] of Object.entries(encode ?? {})) {
    const t = outputs[name];
    // Small outputs are left to the main thread, which encodes them while this thread runs the next inference.
    if (!t || (encoding === 'json' && t.data.length < (init.encodeFrom ?? ENCODE_HERE_FROM))) continue;
    let bytes: Uint8Array = encodeOutputBytes(t, encoding);
    // Small Buffers share Node's pool: copy those out before transferring.
    if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) bytes = Uint8Array.prototype.slice.call(bytes);
    (encoded ??= {})[name] = bytes;
    extra.push(bytes.buffer as ArrayBuffer);
  }
  return encoded;
}

async function run(
  session: ort.InferenceSession,
  id: number,
  feeds: Readonly<Record<string, TensorValue>>,
  encode?: Readonly<Record<string, OutputEncoding>>,
  parts?: readonly RunPart[],
): Promise<void> {
  const t0 = performance.now();
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrt(t);
    const result = await session.run(ortFeeds);
    const outputs: Record<string, TensorValue> = {};
    for (const [name, value] of Object.entries(result)) outputs[name] = fromOrt(value, name);
    // Encoded before the buffers are transferred (which detaches them here).
    const extra: ArrayBuffer[] = [];
    // A batched run encodes each request's rows on their own, so each answer holds only its rows.
    const encodedParts = parts ? splitRows(outputs, parts).map((rows, i) => encodeHere(rows, parts[i]!.encode, extra)) : undefined;
    const encoded = parts ? null : encodeHere(outputs, encode, extra);
    const { tensors, transfer } = prepareTransfer(outputs);
    post({ type: 'result', id, outputs: tensors, ...(encoded ? { encoded } : {}), ...(encodedParts ? { encodedParts } : {}), runMs: performance.now() - t0 }, [...transfer, ...extra]);
  } catch (err) {
    post({ type: 'run-error', id, message: errorMessage(err) });
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

await main();
