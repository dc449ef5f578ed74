import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import { readTensorData, readTensorNumbers } from '../../../main/inspect/tensor-data.js';
import { readTorchCheckpoint } from '../../../main/inspect/torch-checkpoint.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { pickle } from '../../fixtures/inspect/pickle-builder.js';
import { checkpointBytes, stateDict, torchZip } from '../../fixtures/inspect/torch-fixture.js';
import { writeZip } from '../../fixtures/inspect/zip-writer.js';

function errorOf(fn: () => unknown): FramewormError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FramewormError);
    return err as FramewormError;
  }
  throw new Error('expected a FramewormError');
}

describe('readTorchCheckpoint on the compat set', () => {
  it('classifies best.pt as trainer and extracts its training state', () => {
    const ck = readTorchCheckpoint(readFileSync(compatPath('vae', 'best.pt')), 'best.pt');
    expect(ck.format).toBe('trainer');
    expect(ck.prefix).toBe('best');
    expect(ck.tensors).toHaveLength(22);
    expect(ck.metadata.top_level_keys).toEqual(['epoch', 'model_state_dict', 'optimizer_state_dict', 'training_state']);
    expect(ck.metadata.epoch).toBe(3);
    expect(ck.metadata.training_state).toMatchObject({
      current_epoch: 3, global_step: 75, best_metric: 0.296371, best_epoch: 3, val_metrics: {}, lr_history: [0.01], should_stop: false,
    });
    expect(ck.metadata.optimizer).toMatchObject({ kind: 'SGD', lr: 0.01, param_groups: 1, params: 22, state_entries: 0 });
    expect(ck.metadata.optimizer?.hyper_parameters).toMatchObject({ momentum: 0, nesterov: false, foreach: null });
  });

  it('classifies final.pt as state_dict+config and extracts the config', () => {
    const ck = readTorchCheckpoint(readFileSync(compatPath('dcgan', 'final.pt')), 'final.pt');
    expect(ck.format).toBe('state_dict+config');
    expect(ck.prefix).toBe('final');
    expect(ck.metadata.config).toEqual({ model: { type: 'dcgan', latent_dim: 32, ngf: 16, ndf: 16, channels: 3 } });
    expect(ck.metadata.epoch).toBeUndefined();
  });

  it('locates tensor bytes: ddpm betas are linspace(1e-4, 0.02)', () => {
    const buf = readFileSync(compatPath('ddpm', 'best.pt'));
    const ck = readTorchCheckpoint(buf, 'best.pt');
    const betas = ck.tensors.find((t) => t.name === 'betas')!;
    expect(betas).toMatchObject({ dtype: 'float32', shape: [50], nbytes: 200, contiguous: true });
    expect(betas.offset % 64).toBe(0);
    const values = readTensorData(buf, betas);
    expect(values).toBeInstanceOf(Float32Array);
    expect(values.length).toBe(50);
    expect(Math.abs(Number(values[0]) - 1e-4)).toBeLessThan(1e-7);
    expect(Math.abs(Number(values[49]) - 0.02)).toBeLessThan(1e-7);
    // The same bytes, read directly at the reported offset.
    expect(buf.readFloatLE(betas.offset + 49 * 4)).toBe(values[49]);
  });

  it('reads cfg_ddpm betas ending at the 0.999 clip and int64 num_batches_tracked', () => {
    const cfgBuf = readFileSync(compatPath('cfg_ddpm', 'best.pt'));
    const cfg = readTorchCheckpoint(cfgBuf, 'best.pt');
    const betas = readTensorNumbers(cfgBuf, cfg.tensors.find((t) => t.name === 'betas')!);
    expect(betas[49]).toBeCloseTo(0.999, 6);
    expect(betas[0]).toBeCloseTo(1.7475e-3, 6);
    const dcBuf = readFileSync(compatPath('dcgan', 'best.pt'));
    const dc = readTorchCheckpoint(dcBuf, 'best.pt');
    const nbt = dc.tensors.find((t) => t.name === 'generator.main.1.num_batches_tracked')!;
    expect(nbt).toMatchObject({ dtype: 'int64', shape: [], numel: 1, nbytes: 8 });
    expect(readTensorData(dcBuf, nbt)).toEqual(new BigInt64Array([100n]));
  });
});

describe('readTorchCheckpoint on fixtures', () => {
  it('reads a bare state dict under any archive prefix, with torch 2.x extra entries', () => {
    const sd = stateDict([{ name: 'w', shape: [2, 3] }, { name: 'b', shape: [3] }]);
    const buf = torchZip({
      pickle: pickle(sd.value),
      storages: sd.storages,
      prefix: 'my_model',
      extra: [{ name: 'my_model/byteorder', data: Buffer.from('little') }, { name: 'my_model/.format_version', data: Buffer.from('1') }],
    });
    const ck = readTorchCheckpoint(buf, 'x.pt');
    expect(ck.format).toBe('state_dict');
    expect(ck.prefix).toBe('my_model');
    expect(ck.metadata.top_level_keys).toBeUndefined();
    expect(ck.tensors.map((t) => t.name)).toEqual(['w', 'b']);
    expect(Array.from(readTensorData(buf, ck.tensors[0]!) as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('honours storage offset and strides (a transposed view into a shared storage)', () => {
    const storage = Float32Array.from({ length: 10 }, (_, i) => i * 10);
    const pkl = pickle({
      ordered: [['t', { tensor: { storageClass: 'FloatStorage', key: '0', storageNumel: 10, shape: [2, 3], stride: [1, 2], offset: 4 } }]],
    });
    const buf = torchZip({ pickle: pkl, storages: new Map([['0', Buffer.from(storage.buffer)]]) });
    const ck = readTorchCheckpoint(buf, 'x.pt');
    const t = ck.tensors[0]!;
    expect(t.contiguous).toBe(false);
    expect(t.storageOffset).toBe(4);
    // element [i][j] = storage[4 + i + 2j]
    expect(Array.from(readTensorData(buf, t) as Float32Array)).toEqual([40, 60, 80, 50, 70, 90]);
  });

  it('widens float16 to float32 and reads int32 / float64 / uint8', () => {
    const half = new Uint16Array([0x3c00, 0xc000, 0x3555]); // 1, -2, ~0.3333
    const buf = checkpointBytes([
      { name: 'h', shape: [3], data: half },
      { name: 'i', shape: [2], data: new Int32Array([-7, 9]) },
      { name: 'd', shape: [1], data: new Float64Array([Math.PI]) },
      { name: 'u', shape: [2], data: new Uint8Array([0, 255]) },
    ]);
    const ck = readTorchCheckpoint(buf, 'x.pt');
    const [h, i, d, u] = ck.tensors.map((t) => readTensorData(buf, t, { copy: true }));
    expect(h).toBeInstanceOf(Float32Array);
    expect(Array.from(h as Float32Array).map((x) => Number(x.toFixed(4)))).toEqual([1, -2, 0.3333]);
    expect(Array.from(i as Int32Array)).toEqual([-7, 9]);
    expect(Array.from(d as Float64Array)).toEqual([Math.PI]);
    expect(Array.from(u as Uint8Array)).toEqual([0, 255]);
  });

  it('fails with E_INPUT naming the tensor when its storage entry is too short', () => {
    const buf = checkpointBytes([{ name: 'ok', shape: [4] }, { name: 'layer.weight', shape: [8, 8], truncateBy: 12 }]);
    const err = errorOf(() => readTorchCheckpoint(buf, 'short.pt'));
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toBe('short.pt is truncated or corrupt: tensor layer.weight needs 256 bytes of storage data/1 but the entry holds 244');
  });

  it('fails when a storage entry is missing', () => {
    const sd = stateDict([{ name: 'w', shape: [2] }]);
    const buf = torchZip({ pickle: pickle(sd.value), storages: new Map() });
    expect(errorOf(() => readTorchCheckpoint(buf, 'x.pt')).message).toMatch(/tensor w refers to storage data\/0, which is missing/);
  });

  it('rejects a zip that holds no data.pkl', () => {
    const buf = writeZip([{ name: 'readme.txt', data: Buffer.from('hello') }]);
    const err = errorOf(() => readTorchCheckpoint(buf, 'notes.zip'));
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toBe('notes.zip is a ZIP archive but not a PyTorch checkpoint: it has no data.pkl entry (entries: readme.txt)');
  });

  it('rejects a TorchScript archive with a re-save hint', () => {
    const buf = writeZip([
      { name: 'm/data.pkl', data: pickle(null) },
      { name: 'm/constants.pkl', data: pickle(null) },
      { name: 'm/code/__torch__/model.py', data: Buffer.from('def forward(self, x): ...') },
    ]);
    expect(errorOf(() => readTorchCheckpoint(buf, 'ts.pt')).message).toMatch(/TorchScript archive.*model\.state_dict\(\)/);
  });

  it('says "holds no state dict" for pickles without one', () => {
    const cases: [Buffer, RegExp][] = [
      [pickle({ dict: [['epoch', 3], ['notes', 'hi']] }), /holds no state dict \(top-level keys: epoch, notes\)/],
      [pickle([1, 2, 3]), /holds no state dict \(it holds a list\)/],
      [pickle({ tensor: { storageClass: 'FloatStorage', key: '0', storageNumel: 1, shape: [] } }), /holds no state dict \(it holds a single tensor\)/],
      [pickle({ dict: [] }), /holds no state dict/],
    ];
    for (const [pkl, pattern] of cases) {
      const buf = torchZip({ pickle: pkl, storages: new Map([['0', Buffer.alloc(4)]]) });
      const err = errorOf(() => readTorchCheckpoint(buf, 'x.pt'));
      expect(err.code).toBe('E_INPUT');
      expect(err.message).toMatch(/^x\.pt is a PyTorch file but/);
      expect(err.message).toMatch(pattern);
    }
  });

  it('classifies wrapped state dicts: trainer, config and Lightning-style state_dict', () => {
    expect(readTorchCheckpoint(checkpointBytes([{ name: 'w', shape: [1] }], 'trainer'), 'x.pt')).toMatchObject({
      format: 'trainer',
      metadata: { epoch: 2, training_state: { should_stop: true, best_metric: 0.5 }, optimizer: { kind: 'Adam', lr: 0.001, params: 2 } },
    });
    expect(readTorchCheckpoint(checkpointBytes([{ name: 'w', shape: [1] }], 'config'), 'x.pt').format).toBe('state_dict+config');
    const sd = stateDict([{ name: 'w', shape: [1] }]);
    const lightning = torchZip({ pickle: pickle({ dict: [['epoch', 9], ['global_step', 90], ['state_dict', sd.value]] }), storages: sd.storages });
    const ck = readTorchCheckpoint(lightning, 'x.ckpt');
    expect(ck.format).toBe('trainer');
    expect(ck.metadata.state_dict_key).toBe('state_dict');
  });

  it('detects a corrupted data.pkl through its CRC', () => {
    const buf = Buffer.from(checkpointBytes([{ name: 'w', shape: [1] }]));
    const at = buf.indexOf('archive/data.pkl') + 'archive/data.pkl'.length;
    const pklStart = at + buf.readUInt16LE(at - 'archive/data.pkl'.length - 2);
    buf.writeUInt8(buf.readUInt8(pklStart + 5) ^ 0xff, pklStart + 5);
    expect(errorOf(() => readTorchCheckpoint(buf, 'x.pt')).message).toMatch(/data\.pkl fails its CRC check/);
  });
});
