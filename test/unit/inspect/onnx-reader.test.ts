import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import { formatInspection, inspectModelFile } from '../../../main/inspect/inspect.js';
import { readOnnxModel } from '../../../main/inspect/onnx-reader.js';
import { OnnxType, buildMlp, buildOnnxModel, seededWeights } from '../../../scripts/lib/onnx-builder.js';
import { tempDir, writeFixture } from '../../fixtures/inspect/torch-fixture.js';

const tmp = tempDir();
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function errorOf(fn: () => unknown): FramewormError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FramewormError);
    return err as FramewormError;
  }
  throw new Error('expected a FramewormError');
}

/** A protobuf LEN field: key, varint length (< 128 here), payload. */
function msg(field: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([(field << 3) | 2, body.length]), body]);
}

function varintField(field: number, value: number): Buffer {
  return Buffer.from([field << 3, value]);
}

describe('readOnnxModel', () => {
  it('decodes an MLP: versions, opset, I/O with dtypes and symbolic dims, parameter count', () => {
    const info = readOnnxModel(buildMlp([4, 8, 3]), 'mlp.onnx');
    expect(info).toMatchObject({
      ir_version: 8,
      producer_name: 'frameworm-deploy-fixtures',
      producer_version: '1',
      opset: [{ domain: '', version: 17 }],
      graph_name: 'mlp',
      inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 3] }],
      metadata: {},
      n_initializers: 4,
      n_params: 4 * 8 + 8 + 8 * 3 + 3,
      n_nodes: 3,
      op_types: ['Gemm', 'Relu'],
    });
  });

  it('reads int64/uint8/bool/float64 I/O, fixed dims, metadata and a custom opset; drops initializers listed as inputs', () => {
    const model = buildOnnxModel({
      name: 'g',
      opset: 13,
      producer: 'pytorch',
      inputs: [
        { name: 't', elemType: OnnxType.INT64, shape: [2] },
        { name: 'img', elemType: OnnxType.UINT8, shape: [1, 3, 32, 32] },
        { name: 'w', elemType: OnnxType.FLOAT, shape: [3] },
      ],
      outputs: [
        { name: 'mask', elemType: OnnxType.BOOL, shape: ['n'] },
        { name: 'score', elemType: OnnxType.DOUBLE, shape: [] },
      ],
      nodes: [{ opType: 'Identity', inputs: ['t'], outputs: ['mask'] }],
      initializers: [{ name: 'w', dims: [3], data: seededWeights(3, 1, 1) }],
      metadata: { author: 'me', frameworm_type: 'vae' },
    });
    const info = readOnnxModel(model, 'g.onnx');
    expect(info.inputs).toEqual([
      { name: 't', dtype: 'int64', shape: [2] },
      { name: 'img', dtype: 'uint8', shape: [1, 3, 32, 32] },
    ]);
    expect(info.outputs).toEqual([
      { name: 'mask', dtype: 'bool', shape: ['n'] },
      { name: 'score', dtype: 'float64', shape: [] },
    ]);
    expect(info.opset).toEqual([{ domain: '', version: 13 }]);
    expect(info.producer_name).toBe('pytorch');
    expect(info.metadata).toEqual({ author: 'me', frameworm_type: 'vae' });
    expect(info.n_params).toBe(3);
  });

  it('reports unknown dims as null and a missing shape as an unknown rank', () => {
    const emptyDim = msg(1);
    const fixedDim = msg(1, varintField(1, 5));
    const shaped = msg(11, msg(1, Buffer.from('x')), msg(2, msg(1, varintField(1, 10), msg(2, emptyDim, fixedDim))));
    const unshaped = msg(12, msg(1, Buffer.from('y')), msg(2, msg(1, varintField(1, 1))));
    const model = Buffer.concat([varintField(1, 7), msg(7, shaped, unshaped), msg(8, varintField(2, 11))]);
    const info = readOnnxModel(model, 'h.onnx');
    expect(info.inputs).toEqual([{ name: 'x', dtype: 'float16', shape: [null, 5] }]);
    expect(info.outputs).toEqual([{ name: 'y', dtype: 'float32', shape: null }]);
    expect(info.opset).toEqual([{ domain: '', version: 11 }]);
  });

  it('rejects garbage and truncated models with E_INPUT', () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from('this is plain text, not protobuf'), /is not a valid ONNX model/],
      [Buffer.from([0x08, 0x08]), /it has no graph/],
      [Buffer.from([0x12, 0x01, 0x41]), /it has no ir_version/],
      [buildMlp([4, 8, 3]).subarray(0, 100), /claims \d+ bytes but only \d+ remain/],
      [Buffer.from([0x08, 0x08, 0x3b]), /unsupported wire type 3/],
    ];
    for (const [bytes, pattern] of cases) {
      const err = errorOf(() => readOnnxModel(bytes, 'bad.onnx'));
      expect(err.code).toBe('E_INPUT');
      expect(err.message).toMatch(/^bad\.onnx is not a valid ONNX model: /);
      expect(err.message).toMatch(pattern);
    }
  });
});

describe('inspectModelFile on ONNX', () => {
  it('reports a generic ONNX model with its I/O table', async () => {
    const file = writeFixture(tmp, 'mlp.onnx', buildMlp([4, 8, 3]));
    const report = await inspectModelFile(file);
    expect(report).toMatchObject({
      format: 'onnx',
      type: 'generic',
      reason: 'ONNX graph; architecture-specific schemas need a FRAMEWORM checkpoint',
      hyper_parameters: {},
      n_tensors: 4,
      n_params: 67,
      tensors: [],
      onnx: {
        inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 3] }],
        opset: [{ domain: '', version: 17 }],
        producer: 'frameworm-deploy-fixtures',
        ir_version: 8,
      },
    });
    expect(report.checkpoint_format).toBeUndefined();
    expect(report.sha256).toMatch(/^[0-9a-f]{64}$/);
    const text = formatInspection(report);
    expect(text).toMatch(/format\s+ONNX \(ir 8, opset ai\.onnx 17, producer frameworm-deploy-fixtures\)/);
    expect(text).toMatch(/in\s+x\s+float32\s+\[batch, 4\]/);
    expect(text).toMatch(/out\s+y\s+float32\s+\[batch, 3\]/);
  });

  it('takes the type from frameworm_type metadata', async () => {
    const model = buildOnnxModel({
      name: 'decoder',
      inputs: [{ name: 'z', elemType: OnnxType.FLOAT, shape: ['batch', 8] }],
      outputs: [{ name: 'image', elemType: OnnxType.FLOAT, shape: ['batch', 3, 32, 32] }],
      nodes: [{ opType: 'Identity', inputs: ['z'], outputs: ['image'] }],
      metadata: { frameworm_type: 'vae', frameworm_hyper_parameters: JSON.stringify({ latent_dim: 8, image_size: 32, junk: { a: 1 } }) },
    });
    const report = await inspectModelFile(writeFixture(tmp, 'vae.onnx', model));
    expect(report.type).toBe('vae');
    expect(report.reason).toBeUndefined();
    expect(report.hyper_parameters).toEqual({ latent_dim: 8, image_size: 32 });
    const odd = buildOnnxModel({ name: 'g', inputs: [], outputs: [], nodes: [], metadata: { frameworm_type: 'resnet' } });
    const oddReport = await inspectModelFile(writeFixture(tmp, 'odd.onnx', odd));
    expect(oddReport.type).toBe('generic');
    expect(oddReport.warnings).toEqual(['metadata frameworm_type "resnet" is not a FRAMEWORM architecture; treated as generic']);
  });

  it('says a truncated ONNX file is not a valid ONNX model', async () => {
    const whole = buildMlp([16, 64, 16]);
    const file = writeFixture(tmp, 'cut.onnx', whole.subarray(0, whole.length >> 1));
    try {
      await inspectModelFile(file);
      throw new Error('expected failure');
    } catch (err) {
      expect(err).toBeInstanceOf(FramewormError);
      expect((err as FramewormError).code).toBe('E_INPUT');
      expect((err as FramewormError).message).toMatch(/cut\.onnx is not a valid ONNX model: field 7 claims/);
    }
  });
});
