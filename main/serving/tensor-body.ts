/**
 * /predict bodies in the safetensors format (DESIGN §5), both ways.
 *
 * Request: tensors by input name (`x` for VAE / VQ-VAE-2, `z` for the GANs; for a generic model
 * they become its `inputs`), every other request field as a string in `__metadata__`, read back
 * as the JSON value it spells (`"16"` → 16, `"[1,null]"` → [1, null]) or, when it is not JSON,
 * as the string itself (`"png"`). The result is the object a JSON body would have parsed to, with
 * BinaryTensor where nested arrays would be, so the architecture schemas validate both alike.
 *
 * Answer: every BinaryTensor of the result (at the top level, or in `outputs` for a generic
 * model) as a tensor of that name, every other field as a metadata string (strings as they are,
 * anything else as JSON), written from the tensors' own memory.
 */
import type { ModelType } from '../common/types.js';
import { copyTensorBytes, decodeSafetensors, encodeSafetensors, SAFETENSORS_DTYPE_BYTES, SAFETENSORS_MEDIA_TYPE, SafetensorsFormatError, type SafetensorsDtype, type SafetensorsEntry } from '../common/safetensors.js';
import { BinaryTensor } from './schemas/tensor-codec.js';
import { RequestError } from './schemas/types.js';
import type { TensorData, TensorDtype } from './tensor-types.js';

const TO_SAFETENSORS: Readonly<Record<Exclude<TensorDtype, 'string'>, SafetensorsDtype>> = {
  float32: 'F32',
  float64: 'F64',
  float16: 'F16',
  int8: 'I8',
  uint8: 'U8',
  int16: 'I16',
  uint16: 'U16',
  int32: 'I32',
  uint32: 'U32',
  int64: 'I64',
  uint64: 'U64',
  bool: 'BOOL',
};

const FROM_SAFETENSORS: Partial<Record<SafetensorsDtype, { dtype: TensorDtype; make: (b: ArrayBuffer) => Exclude<TensorData, string[]> }>> = {
  F32: { dtype: 'float32', make: (b) => new Float32Array(b) },
  F64: { dtype: 'float64', make: (b) => new Float64Array(b) },
  F16: { dtype: 'float16', make: (b) => new Uint16Array(b) },
  I8: { dtype: 'int8', make: (b) => new Int8Array(b) },
  U8: { dtype: 'uint8', make: (b) => new Uint8Array(b) },
  I16: { dtype: 'int16', make: (b) => new Int16Array(b) },
  U16: { dtype: 'uint16', make: (b) => new Uint16Array(b) },
  I32: { dtype: 'int32', make: (b) => new Int32Array(b) },
  U32: { dtype: 'uint32', make: (b) => new Uint32Array(b) },
  I64: { dtype: 'int64', make: (b) => new BigInt64Array(b) },
  U64: { dtype: 'uint64', make: (b) => new BigUint64Array(b) },
  BOOL: { dtype: 'bool', make: (b) => new Uint8Array(b) },
};

/** Whether a Content-Type or Accept entry names the safetensors media type. */
export function isSafetensorsType(mime: string | null | undefined): boolean {
  return mime === SAFETENSORS_MEDIA_TYPE;
}

/**
 * Whether an Accept header prefers a safetensors answer: it lists the type before any JSON one
 * (`*` wildcards and q-values are not weighed: JSON stays the default).
 */
export function acceptsSafetensors(accept: string | undefined): boolean {
  if (!accept) return false;
  for (const item of accept.split(',')) {
    const mime = item.split(';')[0]!.trim().toLowerCase();
    if (mime === SAFETENSORS_MEDIA_TYPE) return true;
    if (mime === 'application/json') return false;
  }
  return false;
}

/**
 * `body` with `output_format: "safetensors"` when the client asked for it by Accept and the
 * body (a JSON object) did not choose a format itself.
 */
export function applyAccept(body: unknown, accept: string | undefined): unknown {
  if (!acceptsSafetensors(accept) || typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const b = body as Record<string, unknown>;
  return b['output_format'] === undefined ? { ...b, output_format: 'safetensors' } : body;
}

/**
 * Decodes a safetensors request body into the request object (see the file comment); throws
 * RequestError(400) naming the problem.
 */
export function decodeTensorRequest(raw: Uint8Array, type: ModelType): Record<string, unknown> {
  let file;
  try {
    file = decodeSafetensors(raw);
  } catch (err) {
    if (err instanceof SafetensorsFormatError) throw new RequestError(400, err.message);
    throw err;
  }
  const tensors: Record<string, BinaryTensor> = {};
  for (const [name, t] of file.tensors) {
    const kind = FROM_SAFETENSORS[t.dtype];
    if (!kind) {
      throw new RequestError(400, `tensor '${name}' has dtype ${t.dtype}, which no model input takes; send ${name} as F32 (or the input's own type)`, { input: name, dtype: t.dtype });
    }
    tensors[name] = new BinaryTensor({ dtype: kind.dtype, dims: [...t.shape], data: copyTensorBytes(t.bytes, SAFETENSORS_DTYPE_BYTES[t.dtype], kind.make) });
  }
  const body: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(file.metadata)) {
    if (Object.prototype.hasOwnProperty.call(tensors, key)) {
      throw new RequestError(400, `'${key}' is given twice in the safetensors body: as a tensor and in __metadata__`, { field: key });
    }
    body[key] = metadataValue(text);
  }
  if (type === 'generic') {
    if (body['inputs'] !== undefined) throw new RequestError(400, "a safetensors body gives a generic model's inputs as tensors, not as an 'inputs' metadata field");
    body['inputs'] = tensors;
  } else {
    Object.assign(body, tensors);
  }
  return body;
}

/** A metadata string as the value it spells in JSON, else the string itself. */
function metadataValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Whether a backend's result holds binary tensors, i.e. is to be answered as safetensors. */
export function isTensorAnswer(result: object): boolean {
  const r = result as Record<string, unknown>;
  for (const v of Object.values(r)) if (v instanceof BinaryTensor) return true;
  const outputs = r['outputs'];
  if (typeof outputs === 'object' && outputs !== null) for (const v of Object.values(outputs)) if (v instanceof BinaryTensor) return true;
  return false;
}

/** The result as safetensors pieces (see the file comment); RequestError for a string tensor. */
export function encodeTensorAnswer(result: object): { parts: Uint8Array[]; byteLength: number } {
  const entries: SafetensorsEntry[] = [];
  const metadata: Record<string, string> = {};
  const add = (name: string, t: BinaryTensor): void => {
    const { dtype, dims, data } = t.tensor;
    if (dtype === 'string') throw new RequestError(400, `output '${name}' is a string tensor, which safetensors cannot carry; ask for JSON`, { output: name });
    entries.push({ name, dtype: TO_SAFETENSORS[dtype], shape: dims, data: data as Exclude<TensorData, string[]> });
  };
  for (const [key, value] of Object.entries(result as Record<string, unknown>)) {
    if (value instanceof BinaryTensor) add(key, value);
    else if (key === 'outputs' && typeof value === 'object' && value !== null && Object.values(value).some((v) => v instanceof BinaryTensor)) {
      for (const [name, t] of Object.entries(value as Record<string, unknown>)) if (t instanceof BinaryTensor) add(name, t);
    } else if (value !== undefined) metadata[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return encodeSafetensors(entries, metadata);
}
