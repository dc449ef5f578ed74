/**
 * Tensor and message types shared by the main thread and the inference worker.
 *
 * Kept free of runtime imports so the worker can load it without pulling in the rest of the
 * control plane.
 */

/** Element types the serving path can carry (onnxruntime's names). */
export type TensorDtype =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

export const TENSOR_DTYPES: readonly TensorDtype[] = [
  'float32', 'float64', 'float16', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string',
];

/** Type guard for {@link TensorDtype}. */
export function isTensorDtype(value: string): value is TensorDtype {
  return (TENSOR_DTYPES as readonly string[]).includes(value);
}

/** Flat element storage; float16 travels as raw bits in a Uint16Array, bool as 0/1 in a Uint8Array. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

export interface TensorValue {
  readonly dtype: TensorDtype;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** One graph input or output. `dtype` may be a type the serving path cannot carry (e.g. int4). */
export interface TensorInfo {
  readonly name: string;
  /** A {@link TensorDtype}, or e.g. `'int4'` / `'non-tensor'` for values the server cannot carry. */
  readonly dtype: string;
  /** Fixed dims are numbers; symbolic (dynamic) dims are their names, e.g. `'batch'`. */
  readonly shape: readonly (number | string)[];
}

export interface ModelIo {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
}

/** `workerData` of an inference worker. */
export interface WorkerInit {
  readonly modelPath: string;
  readonly threads: number;
  /** How long the worker polls for the next request after each result before sleeping (ms). */
  readonly spinMs: number;
  /** Smallest output (elements) the worker JSON-encodes when asked; smaller ones are left to the caller. Default 4096. */
  readonly encodeFrom?: number;
  /** Shapes for the warm-up feeds by input name; missing inputs get every dynamic dim as 1. */
  readonly warmupDims?: Readonly<Record<string, readonly number[]>>;
  /** Whether fault-injection messages ('crash') are obeyed; see TEST_HOOKS_ENV in model-session.ts. */
  readonly testHooks?: boolean;
}

/**
 * How an output is also encoded for the HTTP answer, by the worker (off the main thread): 'json'
 * as nested arrays, 'png[-1,1]' / 'png[0,1]' as a JSON array of base64 PNGs.
 */
export type OutputEncoding = 'json' | 'png[-1,1]' | 'png[0,1]';

/**
 * An output tensor, plus its JSON text as ASCII bytes when the run asked for it (see
 * OutputEncoding). Bytes, not a string: a transferred buffer crosses threads in ~0.2 ms where
 * a 240 kB string takes ~2 ms to copy (measured here).
 */
export interface RunOutput extends TensorValue {
  readonly encoded?: Uint8Array;
}

export type ToWorker =
  | { readonly type: 'run'; readonly id: number; readonly feeds: Readonly<Record<string, TensorValue>>; readonly encode?: Readonly<Record<string, OutputEncoding>> }
  | { readonly type: 'close' }
  /** Fault injection (the worker throws an uncaught exception, as a bug would); obeyed only when WorkerInit.testHooks is set. */
  | { readonly type: 'crash' };

export type FromWorker =
  | { readonly type: 'ready'; readonly io: ModelIo; readonly warmupMs: number }
  | { readonly type: 'load-error'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly outputs: Record<string, TensorValue>; readonly encoded?: Record<string, Uint8Array>; readonly runMs: number }
  | { readonly type: 'run-error'; readonly id: number; readonly message: string }
  | { readonly type: 'closed' };

/**
 * The ArrayBuffers to transfer with a set of tensors. Only buffers a tensor fully owns are
 * transferred; views into bigger buffers are copied first (transferring would detach memory
 * the caller still uses for other things, e.g. Node's pooled Buffers).
 */
export function prepareTransfer(tensors: Record<string, TensorValue>): { tensors: Record<string, TensorValue>; transfer: ArrayBuffer[] } {
  const transfer = new Set<ArrayBuffer>();
  const out: Record<string, TensorValue> = {};
  for (const [name, t] of Object.entries(tensors)) {
    let data = t.data;
    if (!Array.isArray(data)) {
      const view = data as Exclude<TensorData, string[]>;
      const owns = view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
      if (!owns || transfer.has(view.buffer as ArrayBuffer)) data = view.slice();
      transfer.add((data as Exclude<TensorData, string[]>).buffer as ArrayBuffer);
    }
    out[name] = { dtype: t.dtype, dims: t.dims, data };
  }
  return { tensors: out, transfer: [...transfer] };
}
