/**
 * Safetensors bodies at a real embedded endpoint (DESIGN §5): answers in safetensors equal the
 * JSON ones exactly, request bodies in safetensors equal JSON requests, Accept chooses the
 * answer's format, and a malformed body is a 400 that leaves everything else as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxType, buildOnnxModel } from '../../../scripts/lib/onnx-builder.js';
import { decodeSafetensors, encodeSafetensorsBuffer, type SafetensorsEntry } from '../../../main/common/safetensors.js';
import type { ModelType } from '../../../main/common/types.js';
import { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import { StableEndpoint } from '../../../main/serving/stable-endpoint.js';
import { REPO_ROOT } from '../../fixtures/inspect/compat.js';
import { makeModelDir, type ModelDir } from '../../unit/serving/model-fixtures.js';

const ST = 'application/vnd.safetensors';
const DEMO_DCGAN = path.join(REPO_ROOT, 'examples', 'models', 'demo-dcgan', 'model.onnx');

let models: ModelDir;
const endpoints: Record<string, StableEndpoint> = {};
const backends: EmbeddedBackend[] = [];

async function serve(name: string, type: ModelType, modelPath: string, hp: Record<string, unknown>, maxBodyBytes?: number): Promise<StableEndpoint> {
  const backend = await EmbeddedBackend.load({ name, version: 'v1', type, modelPath, threads: 1, workers: 1, model: { hyperParameters: hp } });
  backends.push(backend);
  const ep = new StableEndpoint({ name, port: 0, ...(maxBodyBytes ? { maxBodyBytes } : {}) });
  await ep.listen();
  await ep.switchBackend(backend);
  return ep;
}

beforeAll(async () => {
  models = makeModelDir();
  const vae = path.join(models.dir, 'vae.onnx');
  fs.writeFileSync(
    vae,
    buildOnnxModel({
      name: 'vae',
      inputs: [{ name: 'x', elemType: OnnxType.FLOAT, shape: ['batch', 3, 32, 32] }],
      outputs: [
        { name: 'reconstruction', elemType: OnnxType.FLOAT, shape: ['batch', 3, 32, 32] },
        { name: 'mu', elemType: OnnxType.FLOAT, shape: ['batch', 3] },
        { name: 'log_var', elemType: OnnxType.FLOAT, shape: ['batch', 3] },
      ],
      nodes: [
        { opType: 'Sigmoid', inputs: ['x'], outputs: ['reconstruction'] },
        { opType: 'ReduceMean', inputs: ['x'], outputs: ['mu'], attributes: { axes: [2, 3], keepdims: 0 } },
        { opType: 'ReduceMax', inputs: ['x'], outputs: ['log_var'], attributes: { axes: [2, 3], keepdims: 0 } },
      ],
    }),
  );
  endpoints['dcgan'] = await serve('dcgan', 'dcgan', DEMO_DCGAN, { latent_dim: 32 });
  endpoints['vae'] = await serve('vae', 'vae', vae, { image_size: 32, channels: 3 }, 200_000);
  endpoints['generic'] = await serve('multi', 'generic', models.multi, {});
});

afterAll(async () => {
  await Promise.all(Object.values(endpoints).map((e) => e.close()));
  await Promise.all(backends.map((b) => b.dispose()));
  models.cleanup();
});

interface Answer {
  status: number;
  type: string;
  bytes: Buffer;
  json<T = Record<string, unknown>>(): T;
}

async function post(ep: StableEndpoint, body: string | Buffer, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`${ep.url}/predict`, { method: 'POST', headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, type: res.headers.get('content-type') ?? '', bytes, json: <T>() => JSON.parse(bytes.toString('utf8')) as T };
}

const postJson = (ep: StableEndpoint, body: unknown, headers: Record<string, string> = {}): Promise<Answer> => post(ep, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
const postTensors = (ep: StableEndpoint, entries: SafetensorsEntry[], metadata: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Answer> =>
  post(ep, encodeSafetensorsBuffer(entries, metadata), { 'content-type': ST, ...headers });

/** Flattens nested arrays and returns their shape. */
function flat(value: unknown): { shape: number[]; data: number[] } {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  return { shape, data: (value as unknown[]).flat(Infinity) as number[] };
}

function nest(data: ArrayLike<number>, shape: readonly number[]): unknown {
  if (shape.length === 0) return data[0];
  const inner = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0]! }, (_, i) => nest(Array.prototype.slice.call(data, i * inner, (i + 1) * inner) as number[], shape.slice(1)));
}

function f32Of(bytes: Uint8Array): Float32Array {
  return new Float32Array(Uint8Array.from(bytes).buffer);
}

/** Every tensor of a safetensors answer as float32 values, plus its metadata. */
function readAnswer(a: Answer): { tensors: Record<string, { dtype: string; shape: readonly number[]; bytes: Uint8Array }>; metadata: Record<string, string> } {
  expect(a.status, a.bytes.toString('utf8').slice(0, 300)).toBe(200);
  expect(a.type).toBe(ST);
  const file = decodeSafetensors(a.bytes);
  return { tensors: Object.fromEntries(file.tensors), metadata: { ...file.metadata } };
}

/** A safetensors F32 tensor equals a JSON answer's nested array exactly (JSON carries float32 values as doubles). */
function expectSameTensor(t: { dtype: string; shape: readonly number[]; bytes: Uint8Array }, json: unknown): void {
  const j = flat(json);
  expect(t.dtype).toBe('F32');
  expect([...t.shape]).toEqual(j.shape);
  expect(Array.from(f32Of(t.bytes))).toEqual(j.data);
}

describe('safetensors answers', () => {
  it('DCGAN batch 16: output_format safetensors gives exactly the JSON images, other fields as metadata strings', async () => {
    const ep = endpoints['dcgan']!;
    const json = await postJson(ep, { batch_size: 16, seed: 5 });
    expect(json.status).toBe(200);
    const st = readAnswer(await postJson(ep, { batch_size: 16, seed: 5, output_format: 'safetensors' }));
    expect(Object.keys(st.tensors)).toEqual(['images']);
    expectSameTensor(st.tensors['images']!, json.json()['images']);
    expect(st.tensors['images']!.shape).toEqual([16, 3, 64, 64]);
    expect(st.metadata).toMatchObject({ seed: '5', model: 'dcgan', version: 'v1' });
    expect(Number(st.metadata['latency_ms'])).toBeGreaterThan(0);
  });

  it('Accept: application/vnd.safetensors asks for the same answer; JSON listed first keeps JSON; the body field wins', async () => {
    const ep = endpoints['dcgan']!;
    const byField = readAnswer(await postJson(ep, { batch_size: 2, seed: 9, output_format: 'safetensors' }));
    const byAccept = readAnswer(await postJson(ep, { batch_size: 2, seed: 9 }, { accept: `${ST}, application/json;q=0.5` }));
    expect(Buffer.from(byAccept.tensors['images']!.bytes).equals(Buffer.from(byField.tensors['images']!.bytes))).toBe(true);
    const jsonFirst = await postJson(ep, { batch_size: 2, seed: 9 }, { accept: `application/json, ${ST}` });
    expect(jsonFirst.type).toMatch(/^application\/json/);
    expectSameTensor(byField.tensors['images']!, jsonFirst.json()['images']);
    const png = await postJson(ep, { batch_size: 1, seed: 9, output_format: 'png' }, { accept: ST });
    expect(png.type).toMatch(/^application\/json/);
    expect(typeof png.json<{ images: unknown[] }>().images[0]).toBe('string');
  });

  it('VAE: every output (reconstruction, mu, log_var) comes as a tensor named as in JSON', async () => {
    const ep = endpoints['vae']!;
    const x = Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => (i % 97) / 96);
    const json = (await postJson(ep, { x: nest(x, [2, 3, 32, 32]) })).json();
    const st = readAnswer(await postJson(ep, { x: nest(x, [2, 3, 32, 32]), output_format: 'safetensors' }));
    expect(Object.keys(st.tensors)).toEqual(['reconstruction', 'mu', 'log_var']);
    for (const k of ['reconstruction', 'mu', 'log_var']) expectSameTensor(st.tensors[k]!, json[k]);
  });
});

describe('safetensors request bodies', () => {
  it('VAE: x sent as a safetensors tensor gives the same answer as x sent as JSON, in either answer format', async () => {
    const ep = endpoints['vae']!;
    const x = Float32Array.from({ length: 3 * 3 * 32 * 32 }, (_, i) => ((i * 7919) % 1000) / 999);
    const fromJson = await postJson(ep, { x: nest(x, [3, 3, 32, 32]) });
    const fromTensors = await postTensors(ep, [{ name: 'x', dtype: 'F32', shape: [3, 3, 32, 32], data: x }]);
    expect(fromTensors.status, fromTensors.bytes.toString()).toBe(200);
    expect(fromTensors.type).toMatch(/^application\/json/);
    const a = fromJson.json();
    const b = fromTensors.json();
    for (const k of ['reconstruction', 'mu', 'log_var']) expect(b[k]).toEqual(a[k]);
    const both = readAnswer(await postTensors(ep, [{ name: 'x', dtype: 'F32', shape: [3, 3, 32, 32], data: x }], { output_format: 'safetensors' }));
    for (const k of ['reconstruction', 'mu', 'log_var']) expectSameTensor(both.tensors[k]!, a[k]);
  });

  it('DCGAN: z as a tensor equals z as JSON; metadata fields are parsed per field (numbers, strings)', async () => {
    const ep = endpoints['dcgan']!;
    const z = Float32Array.from({ length: 4 * 32 }, (_, i) => Math.sin(i) * 2);
    const json = (await postJson(ep, { z: nest(z, [4, 32]) })).json();
    const st = readAnswer(await postTensors(ep, [{ name: 'z', dtype: 'F32', shape: [4, 32], data: z }], {}, { accept: ST }));
    expectSameTensor(st.tensors['images']!, json['images']);
    // batch_size and seed in metadata are numbers once parsed; the same images as JSON numbers.
    const seeded = readAnswer(await postTensors(ep, [], { batch_size: '3', seed: '77', output_format: 'safetensors' }));
    const seededJson = (await postJson(ep, { batch_size: 3, seed: 77 })).json();
    expectSameTensor(seeded.tensors['images']!, seededJson['images']);
    const bad = await postTensors(ep, [], { batch_size: 'many' });
    expect(bad.status).toBe(400);
    expect(bad.json()['error']).toBe(`'batch_size' must be an integer from 1 to 64 (got "many")`);
  });

  it('generic: tensors become the model inputs (int64, bool) and the outputs come back in their own dtype', async () => {
    const ep = endpoints['generic']!;
    const ids = BigInt64Array.from([1n, -2n, 3n, 2n ** 40n]);
    const mask = Uint8Array.from([1, 0, 1, 1]);
    const st = readAnswer(
      await postTensors(ep, [
        { name: 'ids', dtype: 'I64', shape: [2, 2], data: ids },
        { name: 'mask', dtype: 'BOOL', shape: [2, 2], data: mask },
      ], { output_format: 'safetensors' }),
    );
    expect(st.tensors['out']!.dtype).toBe('I64');
    expect(Array.from(new BigInt64Array(Uint8Array.from(st.tensors['out']!.bytes).buffer))).toEqual([1n, 0n, 3n, 2n ** 40n]);
    const json = await postTensors(ep, [
      { name: 'ids', dtype: 'I64', shape: [2, 2], data: ids },
      { name: 'mask', dtype: 'BOOL', shape: [2, 2], data: mask },
    ]);
    expect(json.json()).toMatchObject({ outputs: { out: [[1, 0], [3, 2 ** 40]] } });
    const notBool = await postTensors(ep, [
      { name: 'ids', dtype: 'I64', shape: [2, 2], data: ids },
      { name: 'mask', dtype: 'BOOL', shape: [2, 2], data: Uint8Array.from([1, 0, 2, 1]) },
    ]);
    expect(notBool.status).toBe(400);
    expect(notBool.json()['error']).toBe('input \'mask\' must contain bool values: element 2 is the byte 2, not 0 or 1');
  });

  it('a malformed body is a 400 naming the problem, counted as a client error only; the next request is fine', async () => {
    const ep = endpoints['vae']!;
    const before = ep.snapshot();
    const x = new Float32Array(3 * 32 * 32).fill(0.5);
    const good = encodeSafetensorsBuffer([{ name: 'x', dtype: 'F32', shape: [1, 3, 32, 32], data: x }]);
    const cases: [Buffer, RegExp][] = [
      [good.subarray(0, 5), /^invalid safetensors body: the body has 5 bytes, fewer than the 8-byte header length$/],
      [Buffer.concat([good, Buffer.from([1, 2, 3])]), /3 bytes after the last tensor's data/],
      [good.subarray(0, good.length - 4), /reach past the \d+ bytes of data/],
      [Buffer.alloc(0), /fewer than the 8-byte header length/],
      [encodeSafetensorsBuffer([{ name: 'x', dtype: 'F64', shape: [1, 3, 32, 32], data: new Float64Array(3 * 32 * 32) }]), /^input 'x' has dtype float64 in the safetensors body, the model expects float32$/],
      [encodeSafetensorsBuffer([{ name: 'x', dtype: 'F32', shape: [1, 3, 32, 32], data: Float32Array.from(x, (v, i) => (i === 7 ? NaN : v)) }]), /input 'x' must contain float32 values: element 7 is NaN/],
      [encodeSafetensorsBuffer([{ name: 'x', dtype: 'F32', shape: [1, 3, 32, 32], data: x }], { x: '1' }), /'x' is given twice in the safetensors body/],
      [encodeSafetensorsBuffer([{ name: 'x', dtype: 'BF16', shape: [2], data: new Uint16Array(2) }]), /dtype BF16, which no model input takes/],
      [encodeSafetensorsBuffer([{ name: 'x', dtype: 'F32', shape: [1, 3, 16, 16], data: new Float32Array(3 * 256) }]), /input 'x' has shape \[1,3,16,16\], the model expects \[B,3,32,32\]/],
    ];
    for (const [body, message] of cases) {
      const a = await post(ep, body, { 'content-type': ST });
      expect(a.status, message.source).toBe(400);
      expect(a.json()['error']).toMatch(message);
    }
    const next = await post(ep, good, { 'content-type': ST });
    expect(next.status).toBe(200);
    const after = ep.snapshot();
    expect(after.client_errors - before.client_errors).toBe(cases.length);
    expect(after.server_errors).toBe(before.server_errors);
    expect(after.error_rate).toBe(0);
  });

  it('the body size limit applies to safetensors bodies too (413)', async () => {
    const ep = endpoints['vae']!;
    const big = encodeSafetensorsBuffer([{ name: 'x', dtype: 'F32', shape: [20, 3, 32, 32], data: new Float32Array(20 * 3 * 32 * 32) }]);
    expect(big.length).toBeGreaterThan(200_000);
    const a = await post(ep, big, { 'content-type': ST });
    expect(a.status).toBe(413);
    expect((await post(ep, encodeSafetensorsBuffer([{ name: 'x', dtype: 'F32', shape: [1, 3, 32, 32], data: new Float32Array(3072) }]), { 'content-type': ST })).status).toBe(200);
  });
});
