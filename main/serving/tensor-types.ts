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

/**
 * One request's share of a batched run: its `rows` consecutive rows of every input and output
 * (in part order), and how its outputs are encoded — each part is encoded on its own, so every
 * request gets exactly its own answer.
 */
export interface RunPart {
  readonly rows: number;
  readonly encode?: Readonly<Record<string, OutputEncoding>>;
}

export type ToWorker =
  | {
      readonly type: 'run';
      readonly id: number;
      readonly feeds: Readonly<Record<string, TensorValue>>;
      readonly encode?: Readonly<Record<string, OutputEncoding>>;
      /** A batched run: outputs are encoded per part (into `encodedParts`), `encode` is unused. */
      readonly parts?: readonly RunPart[];
    }
  /** Fault injection: the next `count` runs fail with run-error (obeyed only when WorkerInit.testHooks is set). */
  | { readonly type: 'fail-runs'; readonly count: number }
  | { readonly type: 'close' }
  /** Fault injection (the worker throws an uncaught exception, as a bug would); obeyed only when WorkerInit.testHooks is set. */
  | { readonly type: 'crash' };

export type FromWorker =
  | { readonly type: 'ready'; readonly io: ModelIo; readonly warmupMs: number }
  | { readonly type: 'load-error'; readonly message: string }
  | {
      readonly type: 'result';
      readonly id: number;
      readonly outputs: Record<string, TensorValue>;
      readonly encoded?: Record<string, Uint8Array>;
      /** Batched runs: the encoded outputs of each part, in part order. */
      readonly encodedParts?: readonly (Record<string, Uint8Array> | null)[];
      readonly runMs: number;
    }
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

/** The dims of a tensor's row block: `rows` rows of a tensor whose first dimension is the batch. */
function rowBlock(t: TensorValue, start: number, rows: number): TensorValue {
  const total = t.dims[0] ?? 0;
  const inner = total === 0 ? 0 : t.data.length / total;
  const data = Array.isArray(t.data) ? t.data.slice(start * inner, (start + rows) * inner) : (t.data as Exclude<TensorData, string[]>).subarray(start * inner, (start + rows) * inner);
  return { dtype: t.dtype, dims: [rows, ...t.dims.slice(1)], data };
}

/**
 * Splits the outputs of a batched run into each part's rows (views, no copies). Every output
 * must have the batch as its first dimension; one that does not is a server fault.
 */
export function splitRows(outputs: Readonly<Record<string, TensorValue>>, parts: readonly RunPart[]): Record<string, TensorValue>[] {
  const total = parts.reduce((a, p) => a + p.rows, 0);
  const result: Record<string, TensorValue>[] = parts.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims[0] !== total) throw new Error(`output '${name}' has shape [${t.dims.join(',')}], not the ${total} rows of the batch`);
    let start = 0;
    parts.forEach((p, i) => {
      result[i]![name] = rowBlock(t, start, p.rows);
      start += p.rows;
    });
  }
  return result;
}
