/**
 * A minimal ONNX (protobuf wire format) writer for the drift feature extractor's conv encoder.
 *
 * The subset the encoder needs (float initializers and nodes with int / ints attributes) on the
 * shared protobuf writer, so the bytes are a pure function of the graph description.
 */

import { ProtoWriter } from '../../common/proto-writer.js';

/** ONNX TensorProto.DataType.FLOAT. */
export const ONNX_FLOAT = 1;

/** A graph input or output: a float tensor whose dimensions may be symbolic (strings). */
export interface OnnxValueInfo {
  readonly name: string;
  readonly shape: readonly (number | string)[];
}

/** A float32 constant of the graph (weights, biases). */
export interface OnnxInitializer {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** One operator; attribute values are an INT or a list of INTS. */
export interface OnnxNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Readonly<Record<string, number | readonly number[]>>;
}

/** Everything one model file holds. */
export interface OnnxGraph {
  readonly name: string;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxInitializer[];
  readonly producer: string;
  readonly opset: number;
}

function writeValueInfo(w: ProtoWriter, info: OnnxValueInfo): void {
  w.string(1, info.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, ONNX_FLOAT);
      tensor.message(2, (shape) => {
        for (const dim of info.shape) shape.message(1, (d) => (typeof dim === 'number' ? d.int(1, dim) : d.string(2, dim)));
      });
    }),
  );
}

function writeAttribute(w: ProtoWriter, name: string, value: number | readonly number[]): void {
  w.string(1, name);
  if (typeof value === 'number') {
    w.int(3, value).int(20, 2); // AttributeProto.INT
  } else {
    for (const v of value) w.int(8, v);
    w.int(20, 7); // AttributeProto.INTS
  }
}

/**
 * Serialises a graph into the bytes of a `.onnx` file.
 *
 * Float data is written little-endian whatever the host, so the bytes (and their hash) are the
 * same on every machine.
 */
export function writeOnnxModel(graph: OnnxGraph): Buffer {
  const model = new ProtoWriter();
  model.int(1, 8); // ir_version 8 goes with opset ≤ 17
  model.string(2, graph.producer);
  model.string(3, '1');
  model.message(7, (g) => {
    for (const node of graph.nodes) {
      g.message(1, (n) => {
        for (const i of node.inputs) n.string(1, i);
        for (const o of node.outputs) n.string(2, o);
        n.string(4, node.opType);
        for (const [k, v] of Object.entries(node.attributes ?? {})) n.message(5, (a) => writeAttribute(a, k, v));
      });
    }
    g.string(2, graph.name);
    for (const init of graph.initializers) {
      g.message(5, (t) => {
        for (const d of init.dims) t.int(1, d);
        t.int(2, ONNX_FLOAT);
        t.string(8, init.name);
        const raw = Buffer.alloc(init.data.length * 4);
        init.data.forEach((v, i) => raw.writeFloatLE(v, i * 4));
        t.bytes(9, raw);
      });
    }
    for (const input of graph.inputs) g.message(11, (v) => writeValueInfo(v, input));
    for (const output of graph.outputs) g.message(12, (v) => writeValueInfo(v, output));
  });
  model.message(8, (opset) => opset.string(1, '').int(2, graph.opset));
  return model.finish();
}
