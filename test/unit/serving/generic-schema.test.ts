import { toJsonString } from '../../../main/serving/json-text.js';
import { MODEL_TYPES } from '../../../main/common/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelSession } from '../../../main/serving/model-session.js';
import { getSchema, hasSchema, RequestError } from '../../../main/serving/schemas/index.js';
import { decodeTensor, encodeTensor, fromHalfBits, toHalfBits } from '../../../main/serving/schemas/tensor-codec.js';
import { makeModelDir, referenceMlp, type ModelDir } from './model-fixtures.js';

let models: ModelDir;
let mlp: ModelSession;
let multi: ModelSession;
const schema = getSchema('generic');
const limits = { maxBatchSize: 8 };
const model = { hyperParameters: {} };

beforeAll(async () => {
  models = makeModelDir();
  [mlp, multi] = await Promise.all([ModelSession.load({ modelPath: models.mlp }), ModelSession.load({ modelPath: models.multi })]);
});
afterAll(async () => {
  await Promise.all([mlp?.dispose(), multi?.dispose()]);
  models.cleanup();
});

/** Runs the schema and returns the RequestError it throws (failing the test if it does not). */
async function refusal(body: unknown, session: ModelSession = mlp): Promise<RequestError> {
  try {
    await schema.handle(body, { session, limits, model });
  } catch (err) {
    if (err instanceof RequestError) return err;
    throw err;
  }
  throw new Error('expected a RequestError');
}

describe('generic schema', () => {
  it('is registered, with one schema for every model type', () => {
    expect(schema.type).toBe('generic');
    for (const type of MODEL_TYPES) {
      expect(hasSchema(type)).toBe(true);
      expect(getSchema(type).type).toBe(type);
    }
  });

  it('answers a good request with the outputs of the reference MLP', async () => {
    const x = [
      [0.5, -1, 2, 0.25],
      [1, 2, 3, 4],
      [0, 0, 0, 0],
    ];
    // What the client receives: the answer as the endpoint serialises it.
    const res = JSON.parse(toJsonString(await schema.handle({ inputs: { x } }, { session: mlp, limits, model }))) as { outputs: { y: number[][] } };
    const ref = referenceMlp(x);
    expect(res.outputs.y).toHaveLength(3);
    res.outputs.y.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(ref[i]![j]!, 5)));
  });

  it('feeds int64 and bool inputs and returns int64 as numbers', async () => {
    const res = JSON.parse(toJsonString(await schema.handle({ inputs: { ids: [[1, 2], [3, -4]], mask: [[true, false], [false, true]] } }, { session: multi, limits, model }))) as unknown;
    expect(res).toEqual({ outputs: { out: [[1, 0], [0, -4]] } });
  });

  it.each([
    ['a body that is not an object', [1, 2], /must be a JSON object with an "inputs" object/],
    ['no inputs object', { x: [[1, 2, 3, 4]] }, /must be a JSON object with an "inputs" object/],
    ['an unknown input name', { inputs: { x: [[1, 2, 3, 4]], z: [1] } }, /unknown input 'z'; the model's inputs are: x \[batch,4\] float32/],
    ['a missing input', { inputs: {} }, /missing input 'x' \(\[batch,4\] float32\)/],
    ['a wrong shape', { inputs: { x: [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]] } }, /^input 'x' has shape \[2,5\], the model expects \[batch,4\]$/],
    ['a wrong rank', { inputs: { x: [1, 2, 3, 4] } }, /input 'x' has shape \[4\], the model expects \[batch,4\]/],
    ['a ragged array', { inputs: { x: [[1, 2, 3, 4], [1, 2, 3]] } }, /input 'x' is not a rectangular array: x\[1\] has 3 elements where x\[0\] has 4/],
    ['a nested element where numbers are', { inputs: { x: [[1, 2, 3, 4], [1, 2, 3, [4]]] } }, /input 'x' is not a rectangular array: x\[1\]\[3\] is an array/],
    ['a string in a float array', { inputs: { x: [[1, 2, 'three', 4]] } }, /input 'x' must contain float32 values: x\[0\]\[2\] is the string "three", not a number/],
    ['null in a float array (how JSON carries NaN)', { inputs: { x: [[1, null, 3, 4]] } }, /input 'x' must contain float32 values: x\[0\]\[1\] is null, not a number/],
    ['"Infinity" as a string', { inputs: { x: [[1, 'Infinity', 3, 4]] } }, /x\[0\]\[1\] is the string "Infinity"/],
    ['a float beyond float32 range', { inputs: { x: [[1, 1e39, 3, 4]] } }, /x\[0\]\[1\] is 1e\+39, outside the float32 range/],
    ['a batch over the limit', { inputs: { x: Array.from({ length: 9 }, () => [0, 0, 0, 0]) } }, /input 'x' has a batch of 9; the limit is 8/],
    ['an empty batch', { inputs: { x: [] } }, /input 'x' has shape \[0\]/],
  ])('refuses %s with a 400 naming the input', async (_what, body, message) => {
    const err = await refusal(body);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });

  it.each([
    ['a non-integer int64', { ids: [[1, 2.5]], mask: [[true, true]] }, /input 'ids' must contain int64 values: ids\[0\]\[1\] is 2.5, not an integer/],
    ['an int64 beyond 2^53', { ids: [[1, 2 ** 60]], mask: [[true, true]] }, /ids\[0\]\[1\] is 1152921504606847000, outside the int64 range/],
    ['a number in a bool input', { ids: [[1, 2]], mask: [[1, 0]] }, /input 'mask' must contain bool values: mask\[0\]\[0\] is 1, not true or false/],
    ['inputs disagreeing on the batch', { ids: [[1, 2], [3, 4]], mask: [[true, true]] }, /input 'mask' has batch = 1 but input 'ids' has batch = 2/],
  ])('refuses %s', async (_what, inputs, message) => {
    const err = await refusal({ inputs }, multi);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });

  it('puts the position and expectation in the detail', async () => {
    const err = await refusal({ inputs: { x: [[1, 2, 'a', 4]] } });
    expect(err.detail).toEqual({ input: 'x', at: 'x[0][2]', expected: 'float32' });
    const shape = await refusal({ inputs: { x: [[1, 2]] } });
    expect(shape.detail).toEqual({ input: 'x', shape: [1, 2], expected: ['batch', 4] });
  });
});

describe('tensor codec', () => {
  it('round-trips nested arrays of several dtypes and ranks', () => {
    const cases: [unknown, Parameters<typeof decodeTensor>[2]][] = [
      [[[1, 2, 3], [4, 5, 6]], 'float64'],
      [[[[1], [2]], [[3], [4]]], 'int32'],
      [[[true, false]], 'bool'],
      [[['a', 'b']], 'string'],
      [7, 'uint8'],
      [[-1, 2 ** 40], 'int64'],
    ];
    for (const [value, dtype] of cases) expect(encodeTensor(decodeTensor('t', value, dtype))).toEqual(value);
  });

  it('encodes an empty dimension without dividing by zero', () => {
    expect(encodeTensor({ dtype: 'float32', dims: [2, 0], data: new Float32Array(0) })).toEqual([[], []]);
  });

  it('converts float16 with correct rounding', () => {
    expect(fromHalfBits(toHalfBits(1))).toBe(1);
    expect(fromHalfBits(toHalfBits(-2.5))).toBe(-2.5);
    expect(fromHalfBits(toHalfBits(65504))).toBe(65504);
    expect(fromHalfBits(toHalfBits(1e-7))).toBeCloseTo(1.19e-7, 9); // subnormal
    expect(fromHalfBits(toHalfBits(1 + 2 ** -11))).toBe(1); // ties to even
    expect(fromHalfBits(toHalfBits(70000))).toBe(Infinity);
    expect(encodeTensor(decodeTensor('h', [0.5, 1.5], 'float16'))).toEqual([0.5, 1.5]);
  });
});
