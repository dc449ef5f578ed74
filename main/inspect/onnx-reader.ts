/**
 * Decodes the parts of an ONNX ModelProto that `deploy inspect` reports: versions, opsets,
 * graph inputs/outputs with dtypes and shapes, metadata and parameter counts. Field numbers
 * are those of onnx/onnx.proto. Tensor data is never decoded, only counted.
 */
import { FramewormError } from '../common/errors.js';
import { type Field, ProtobufError, asBytes, asInt, asInts, asString, readFields } from './protobuf-reader.js';

export type OnnxDim = number | string | null;

export interface OnnxValueInfo {
  readonly name: string;
  /** 'float32', 'int64', …; 'sequence' / 'map' / 'optional' for non-tensor types; 'unknown' if absent. */
  readonly dtype: string;
  /** Fixed dims as numbers, symbolic dims as strings, unknown dims as null; null when the rank is unknown. */
  readonly shape: readonly OnnxDim[] | null;
}

export interface OnnxOpset {
  /** '' is the default ai.onnx domain. */
  readonly domain: string;
  readonly version: number;
}

export interface OnnxModelInfo {
  readonly ir_version: number;
  readonly producer_name: string;
  readonly producer_version: string;
  readonly opset: readonly OnnxOpset[];
  readonly graph_name: string;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly n_initializers: number;
  readonly n_params: number;
  readonly n_nodes: number;
  readonly op_types: readonly string[];
}

/** TensorProto.DataType codes. */
const ELEM_TYPES: Readonly<Record<number, string>> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
  17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2', 20: 'float8e5m2fnuz', 21: 'uint4', 22: 'int4', 23: 'float4e2m1',
};

function fields(buf: Buffer, number: number): Field[] {
  return readFields(buf).filter((f) => f.number === number);
}

function first(list: readonly Field[], number: number): Field | undefined {
  return list.find((f) => f.number === number);
}

function readDim(buf: Buffer): OnnxDim {
  const f = readFields(buf);
  const value = first(f, 1);
  if (value) return asInt(value);
  const param = first(f, 2);
  return param ? asString(param) : null;
}

function readType(buf: Buffer | undefined): { dtype: string; shape: OnnxDim[] | null } {
  if (!buf) return { dtype: 'unknown', shape: null };
  const f = readFields(buf);
  const tensor = first(f, 1) ?? first(f, 8); // tensor_type, sparse_tensor_type share the layout
  if (!tensor) {
    const other = first(f, 4) ? 'sequence' : first(f, 5) ? 'map' : first(f, 9) ? 'optional' : 'unknown';
    return { dtype: other, shape: null };
  }
  const t = readFields(asBytes(tensor));
  const elem = first(t, 1);
  const code = elem ? asInt(elem) : 0;
  const shape = first(t, 2);
  return {
    dtype: ELEM_TYPES[code] ?? `type${code}`,
    shape: shape ? fields(asBytes(shape), 1).map((d) => readDim(asBytes(d))) : null,
  };
}

function readValueInfo(buf: Buffer): OnnxValueInfo {
  const f = readFields(buf);
  const name = first(f, 1);
  const type = first(f, 2);
  return { name: name ? asString(name) : '', ...readType(type ? asBytes(type) : undefined) };
}

interface GraphInfo {
  name: string;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  nInitializers: number;
  nParams: number;
  nNodes: number;
  opTypes: string[];
}

function readGraph(buf: Buffer): GraphInfo {
  const f = readFields(buf);
  const initNames = new Set<string>();
  let nParams = 0;
  let nInitializers = 0;
  for (const init of f.filter((x) => x.number === 5)) {
    const t = readFields(asBytes(init));
    const dims = t.filter((x) => x.number === 1).flatMap(asInts);
    const name = first(t, 8);
    if (name) initNames.add(asString(name));
    nParams += dims.reduce((a, b) => a * b, 1);
    nInitializers++;
  }
  const ops = new Set<string>();
  const nodes = f.filter((x) => x.number === 1);
  for (const node of nodes) {
    const op = first(readFields(asBytes(node)), 4);
    if (op) ops.add(asString(op));
  }
  const name = first(f, 2);
  return {
    name: name ? asString(name) : '',
    // IR < 4 listed initializers among the inputs; callers only care about the real ones.
    inputs: f.filter((x) => x.number === 11).map((x) => readValueInfo(asBytes(x))).filter((v) => !initNames.has(v.name)),
    outputs: f.filter((x) => x.number === 12).map((x) => readValueInfo(asBytes(x))),
    nInitializers,
    nParams,
    nNodes: nodes.length,
    opTypes: [...ops].sort(),
  };
}

function decode(buf: Buffer): OnnxModelInfo {
  const f = readFields(buf);
  const ir = first(f, 1);
  const graph = first(f, 7);
  if (!ir || ir.int === undefined) throw new ProtobufError('it has no ir_version');
  const irVersion = asInt(ir);
  if (irVersion < 1 || irVersion > 100) throw new ProtobufError(`ir_version ${irVersion} is not plausible`);
  if (!graph) throw new ProtobufError('it has no graph');
  const g = readGraph(asBytes(graph));
  const metadata: Record<string, string> = {};
  for (const entry of f.filter((x) => x.number === 14)) {
    const e = readFields(asBytes(entry));
    const k = first(e, 1);
    const v = first(e, 2);
    if (k) metadata[asString(k)] = v ? asString(v) : '';
  }
  const opset = f
    .filter((x) => x.number === 8)
    .map((x) => {
      const o = readFields(asBytes(x));
      const domain = first(o, 1);
      const version = first(o, 2);
      return { domain: domain ? asString(domain) : '', version: version ? asInt(version) : 0 };
    });
  const producer = first(f, 2);
  const producerVersion = first(f, 3);
  return {
    ir_version: irVersion,
    producer_name: producer ? asString(producer) : '',
    producer_version: producerVersion ? asString(producerVersion) : '',
    opset,
    graph_name: g.name,
    inputs: g.inputs,
    outputs: g.outputs,
    metadata,
    n_initializers: g.nInitializers,
    n_params: g.nParams,
    n_nodes: g.nNodes,
    op_types: g.opTypes,
  };
}

/** True when the bytes start the way every ONNX serializer writes a model: ir_version first. */
export function looksLikeOnnx(buf: Buffer): boolean {
  return buf.length >= 2 && buf[0] === 0x08 && buf[1]! >= 1 && buf[1]! <= 0x7f;
}

/**
 * Decodes an ONNX model's interface and summary.
 *
 * Throws FramewormError E_INPUT when the bytes are not a well-formed ModelProto with an
 * ir_version and a graph.
 */
export function readOnnxModel(buf: Buffer, label: string): OnnxModelInfo {
  try {
    return decode(buf);
  } catch (err) {
    if (!(err instanceof ProtobufError)) throw err;
    throw new FramewormError('E_INPUT', `${label} is not a valid ONNX model: ${err.message}`);
  }
}
