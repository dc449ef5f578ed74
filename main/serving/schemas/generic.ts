/**
 * The `generic` schema: any ONNX graph, fed by name.
 *
 * Request `{"inputs": {name: nested array}}` → response `{"outputs": {name: nested array}}`.
 * Every graph input is required and unknown names are refused, so a typo is a clear 400 rather
 * than a confusing runtime error from onnxruntime.
 */
import { FramewormError } from '../../common/errors.js';
import { isTensorDtype, type TensorInfo, type TensorValue } from '../tensor-types.js';
import { decodeTensor, formatShape } from './tensor-codec.js';
import { encodeOutput, outputFormat, workerEncodings, type Body } from './fields.js';
import { RequestError, type InferenceSchema, type SchemaContext } from './types.js';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function signature(inputs: readonly TensorInfo[]): string {
  return inputs.map((i) => `${i.name} ${formatShape(i.shape)} ${i.dtype}`).join(', ');
}

/** Binds a symbolic dimension across inputs: the same name must have the same size everywhere. */
interface Binding {
  readonly size: number;
  readonly input: string;
}

/** Decodes and checks one request's inputs against the graph; throws RequestError(400). */
export function decodeGenericInputs(body: unknown, graphInputs: readonly TensorInfo[], maxBatchSize: number): Record<string, TensorValue> {
  if (!isPlainObject(body) || !isPlainObject(body.inputs)) {
    throw new RequestError(400, `the request must be a JSON object with an "inputs" object mapping input names to nested arrays (the model expects: ${signature(graphInputs)})`, {
      expected_inputs: graphInputs,
    });
  }
  const given = body.inputs;
  const known = new Set(graphInputs.map((i) => i.name));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) {
      throw new RequestError(400, `unknown input '${name}'; the model's inputs are: ${signature(graphInputs)}`, { input: name, expected_inputs: graphInputs });
    }
  }
  const feeds: Record<string, TensorValue> = {};
  const bindings = new Map<string, Binding>();
  for (const info of graphInputs) {
    if (!(info.name in given)) {
      throw new RequestError(400, `missing input '${info.name}' (${formatShape(info.shape)} ${info.dtype}); the model's inputs are: ${signature(graphInputs)}`, {
        input: info.name,
        expected_inputs: graphInputs,
      });
    }
    if (!isTensorDtype(info.dtype)) {
      // Checked when the backend loads; reaching here is a server-side bug, hence not a RequestError.
      throw new FramewormError('E_RUNTIME', `input '${info.name}' has type ${info.dtype}, which the server cannot feed`);
    }
    const tensor = decodeTensor(info.name, given[info.name], info.dtype);
    checkShape(info, tensor.dims, bindings, maxBatchSize);
    feeds[info.name] = tensor;
  }
  return feeds;
}

function checkShape(info: TensorInfo, dims: readonly number[], bindings: Map<string, Binding>, maxBatchSize: number): void {
  const detail = { input: info.name, shape: dims, expected: info.shape };
  const mismatch = (): never => {
    throw new RequestError(400, `input '${info.name}' has shape ${formatShape(dims)}, the model expects ${formatShape(info.shape)}`, detail);
  };
  if (dims.length !== info.shape.length) mismatch();
  info.shape.forEach((want, axis) => {
    const got = dims[axis]!;
    if (typeof want === 'number') {
      if (want !== got) mismatch();
      return;
    }
    if (got === 0) {
      throw new RequestError(400, `input '${info.name}' has shape ${formatShape(dims)}: dimension '${want}' must not be empty`, detail);
    }
    if (axis === 0 && got > maxBatchSize) {
      throw new RequestError(400, `input '${info.name}' has a batch of ${got}; the limit is ${maxBatchSize}`, { ...detail, max_batch_size: maxBatchSize });
    }
    const bound = bindings.get(want);
    if (bound && bound.size !== got) {
      throw new RequestError(
        400,
        `input '${info.name}' has ${want} = ${got} but input '${bound.input}' has ${want} = ${bound.size}; inputs must agree on dimension '${want}'`,
        { ...detail, dimension: want },
      );
    }
    if (!bound) bindings.set(want, { size: got, input: info.name });
  });
}

/** The generic schema (see the file comment). */
export const genericSchema: InferenceSchema = {
  type: 'generic',
  async handle(body: unknown, ctx: SchemaContext): Promise<object> {
    const feeds = decodeGenericInputs(body, ctx.session.io.inputs, ctx.limits.maxBatchSize);
    // "png" is accepted and answered as arrays (outputs are not known to be images).
    const format = outputFormat(body as Body);
    const result = await ctx.session.run(feeds, workerEncodings(format, Object.fromEntries(ctx.session.io.outputs.map((o) => [o.name, 'json' as const]))));
    const outputs: Record<string, unknown> = {};
    // Graph order, not the worker's object order, so clients see a stable layout.
    for (const info of ctx.session.io.outputs) {
      const t = result[info.name];
      if (t) outputs[info.name] = encodeOutput(t, format);
    }
    return { outputs };
  },
};
