/**
 * A tiny ONNX model writer used to make demo and test models without Python.
 *
 * It writes the protobuf wire format directly for the small subset of ONNX the project's
 * fixtures need (graphs of standard operators with float/int64 initializers).
 */

import { ProtoWriter } from '../../main/common/proto-writer.js';

/** ONNX TensorProto.DataType codes used by the fixtures. */
export const OnnxType = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;

export interface TensorSpec {
  readonly name: string;
  readonly elemType: number;
  /** Dimensions; a string is a symbolic (dynamic) dimension. */
  readonly shape: readonly (number | string)[];
}

export interface Initializer {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array | Int32Array;
}

export type AttributeValue = number | string | readonly number[] | { readonly float: number };

export interface NodeSpec {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

export interface GraphSpec {
  readonly name: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly nodes: readonly NodeSpec[];
  readonly initializers?: readonly Initializer[];
  readonly opset?: number;
  readonly producer?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

function writeValueInfo(w: ProtoWriter, spec: TensorSpec): void {
  w.string(1, spec.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, spec.elemType);
      tensor.message(2, (shape) => {
        for (const dim of spec.shape) {
          shape.message(1, (d) => (typeof dim === 'number' ? d.int(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

function elemTypeOf(data: Initializer['data']): number {
  if (data instanceof Float32Array) return OnnxType.FLOAT;
  if (data instanceof BigInt64Array) return OnnxType.INT64;
  return OnnxType.INT32;
}

function writeAttribute(w: ProtoWriter, name: string, value: AttributeValue): void {
  w.string(1, name);
  if (typeof value === 'number') {
    w.int(3, value).int(20, 2);
  } else if (typeof value === 'string') {
    w.string(4, value).int(20, 3);
  } else if (Array.isArray(value)) {
    for (const v of value as readonly number[]) w.int(8, v);
    w.int(20, 7);
  } else {
    const f = Buffer.alloc(4);
    f.writeFloatLE((value as { float: number }).float);
    w.fixed32(2, f);
    w.int(20, 1);
  }
}

/** Serialises a graph description into the bytes of a `.onnx` file. */
export function buildOnnxModel(spec: GraphSpec): Buffer {
  const model = new ProtoWriter();
  model.int(1, 8); // ir_version 8 goes with opset 17
  model.string(2, spec.producer ?? 'frameworm-deploy-fixtures');
  model.string(3, '1');
  model.message(7, (graph) => {
    for (const node of spec.nodes) {
      graph.message(1, (n) => {
        for (const i of node.inputs) n.string(1, i);
        for (const o of node.outputs) n.string(2, o);
        if (node.name) n.string(3, node.name);
        n.string(4, node.opType);
        for (const [k, v] of Object.entries(node.attributes ?? {})) n.message(5, (a) => writeAttribute(a, k, v));
      });
    }
    graph.string(2, spec.name);
    for (const init of spec.initializers ?? []) {
      graph.message(5, (t) => {
        for (const d of init.dims) t.int(1, d);
        t.int(2, elemTypeOf(init.data));
        t.string(8, init.name);
        t.bytes(9, new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength));
      });
    }
    for (const input of spec.inputs) graph.message(11, (v) => writeValueInfo(v, input));
    for (const output of spec.outputs) graph.message(12, (v) => writeValueInfo(v, output));
  });
  model.message(8, (opset) => opset.string(1, '').int(2, spec.opset ?? 17));
  for (const [k, v] of Object.entries(spec.metadata ?? {})) {
    model.message(14, (p) => p.string(1, k).string(2, v));
  }
  return model.finish();
}

/** Deterministic pseudo-random floats in [-scale, scale) (xorshift32), for fixture weights. */
export function seededWeights(count: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 0x100000000) * 2 - 1) * scale;
  }
  return out;
}

/**
 * A multi-layer perceptron `x [batch, sizes[0]] → y [batch, sizes[-1]]` with ReLU between
 * layers, seeded weights and a dynamic batch axis.
 */
export function buildMlp(sizes: readonly number[], seed = 7, names = { input: 'x', output: 'y' }): Buffer {
  if (sizes.length < 2) throw new Error('an MLP needs at least an input and an output size');
  const nodes: NodeSpec[] = [];
  const initializers: Initializer[] = [];
  let current = names.input;
  for (let layer = 0; layer < sizes.length - 1; layer++) {
    const fanIn = sizes[layer]!;
    const fanOut = sizes[layer + 1]!;
    const last = layer === sizes.length - 2;
    initializers.push(
      { name: `w${layer}`, dims: [fanIn, fanOut], data: seededWeights(fanIn * fanOut, seed + layer * 2, 1 / Math.sqrt(fanIn)) },
      { name: `b${layer}`, dims: [fanOut], data: seededWeights(fanOut, seed + layer * 2 + 1, 0.1) },
    );
    const gemmOut = last ? names.output : `h${layer}`;
    nodes.push({ opType: 'Gemm', inputs: [current, `w${layer}`, `b${layer}`], outputs: [gemmOut], name: `gemm${layer}` });
    current = gemmOut;
    if (!last) {
      nodes.push({ opType: 'Relu', inputs: [gemmOut], outputs: [`r${layer}`], name: `relu${layer}` });
      current = `r${layer}`;
    }
  }
  return buildOnnxModel({
    name: 'mlp',
    inputs: [{ name: names.input, elemType: OnnxType.FLOAT, shape: ['batch', sizes[0]!] }],
    outputs: [{ name: names.output, elemType: OnnxType.FLOAT, shape: ['batch', sizes[sizes.length - 1]!] }],
    nodes,
    initializers,
  });
}
