import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import { formatInspection, inspectModelFile } from '../../../main/inspect/inspect.js';
import { ARCHS, type Arch, compatPath } from '../../fixtures/inspect/compat.js';
import { PickleBuilder, pickle } from '../../fixtures/inspect/pickle-builder.js';
import { checkpointBytes, hostilePickle, stateDict, tempDir, torchZip, writeFixture } from '../../fixtures/inspect/torch-fixture.js';
import { writeZip } from '../../fixtures/inspect/zip-writer.js';

/** compat/README.md, "Sizes of each arch's files and configs". */
const README_TABLE: Record<Arch, { params: number; tensors: number }> = {
  vae: { params: 1_405_651, tensors: 22 },
  dcgan: { params: 414_112, tensors: 45 },
  ddpm: { params: 381_715, tensors: 66 },
  vqvae2: { params: 113_430, tensors: 40 },
  vitgan: { params: 837_796, tensors: 57 },
  cfg_ddpm: { params: 950_995, tensors: 222 },
};

/** config.effective keys that the weights cannot reveal, and our names for renamed ones. */
const NOT_RECOVERABLE: Record<Arch, readonly string[]> = {
  vae: ['beta'],
  dcgan: [],
  ddpm: [],
  vqvae2: ['commitment_cost'],
  vitgan: ['vit_heads'],
  cfg_ddpm: ['image_size', 'p_uncond'],
};

interface Golden {
  readonly config: { readonly effective: Record<string, unknown> };
}

const tmp = tempDir();
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function inspectError(file: string): Promise<FramewormError> {
  try {
    await inspectModelFile(file);
  } catch (err) {
    expect(err).toBeInstanceOf(FramewormError);
    return err as FramewormError;
  }
  throw new Error(`expected inspecting ${file} to fail`);
}

describe('inspectModelFile on the compat checkpoints', () => {
  const manifest = JSON.parse(readFileSync(compatPath('manifest.json'), 'utf8')) as { files: Record<string, { bytes: number; sha256: string }> };
  const files = [...ARCHS.map((a) => [a, 'best.pt'] as const), ['vae', 'final.pt'] as const, ['dcgan', 'final.pt'] as const];

  for (const [arch, name] of files) {
    it(`${arch}/${name}`, async () => {
      const golden = JSON.parse(readFileSync(compatPath(arch, 'golden.json'), 'utf8')) as Golden;
      const report = await inspectModelFile(compatPath(arch, name));
      expect(report.format).toBe('pytorch');
      expect(report.type).toBe(arch);
      expect(report.reason).toBeUndefined();
      expect(report.warnings).toEqual([]);
      expect(report.structure?.complete).toBe(true);
      expect(report.n_tensors).toBe(README_TABLE[arch].tensors);
      expect(report.n_params).toBe(README_TABLE[arch].params);
      expect(report.tensors).toHaveLength(report.n_tensors);
      for (const [key, value] of Object.entries(golden.config.effective)) {
        if (NOT_RECOVERABLE[arch].includes(key)) continue;
        const ours = key === 'in_channels' || key === 'image_channels' ? report.hyper_parameters['channels'] : report.hyper_parameters[key];
        expect(ours, `${arch} ${key}`).toEqual(value);
        expect(report.hyper_parameters[key] ?? ours, `${arch} ${key} under its own name`).toEqual(value);
      }
      const m = manifest.files[`${arch}/${name}`]!;
      expect(report.sha256).toBe(m.sha256);
      expect(report.size_bytes).toBe(m.bytes);
      expect(path.isAbsolute(report.path)).toBe(true);
      if (name === 'best.pt') {
        expect(report.checkpoint_format).toBe('trainer');
        expect(typeof report.metadata.epoch).toBe('number');
        expect(report.metadata.training_state).toMatchObject({ current_epoch: report.metadata.epoch, lr_history: [0.01] });
        expect(report.metadata.config).toBeUndefined();
      } else {
        expect(report.checkpoint_format).toBe('state_dict+config');
        expect(report.metadata.config).toMatchObject({ model: { type: arch } });
        expect(report.metadata.training_state).toBeUndefined();
      }
      // The report is what `--json` prints: it must survive JSON unchanged.
      expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    });
  }

  it('reports offsets at which the tensor bytes really are (ddpm betas, cfg last beta)', async () => {
    const ddpm = await inspectModelFile(compatPath('ddpm', 'best.pt'));
    const buf = readFileSync(compatPath('ddpm', 'best.pt'));
    const betas = ddpm.tensors.find((t) => t.name === 'betas')!;
    expect(betas).toMatchObject({ dtype: 'float32', shape: [50], nbytes: 200 });
    expect(Math.abs(buf.readFloatLE(betas.offset) - 1e-4)).toBeLessThan(1e-7);
    expect(Math.abs(buf.readFloatLE(betas.offset + 49 * 4) - 0.02)).toBeLessThan(1e-7);
    const cfg = await inspectModelFile(compatPath('cfg_ddpm', 'best.pt'));
    const cbuf = readFileSync(compatPath('cfg_ddpm', 'best.pt'));
    const cb = cfg.tensors.find((t) => t.name === 'betas')!;
    expect(Math.abs(cbuf.readFloatLE(cb.offset + 49 * 4) - 0.999)).toBeLessThan(1e-7);
  });

  // The time to inspect the 5.6 MB vae checkpoint (target < 100 ms) is in test/bench/timing-bench.ts.

  it('formats a readable summary', async () => {
    const text = formatInspection(await inspectModelFile(compatPath('ddpm', 'best.pt')));
    expect(text).toMatch(/format\s+PyTorch, trainer checkpoint/);
    expect(text).toMatch(/architecture\s+ddpm/);
    expect(text).toMatch(/timesteps\s+50/);
    expect(text).toMatch(/parameters\s+381,715 in 66 tensors/);
    expect(text).toMatch(/epoch\s+5 \(best metric 0\.249643 at epoch 5\)/);
    expect(text).toMatch(/betas\s+float32\s+\[50\]/);
  });
});

describe('inspectModelFile: bad input', () => {
  it('a missing path', async () => {
    const file = path.join(tmp, 'nope.pt');
    const err = await inspectError(file);
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toBe(`no such file: ${file}`);
  });

  it('a directory', async () => {
    const dir = path.join(tmp, 'a-dir');
    mkdirSync(dir);
    const err = await inspectError(dir);
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toBe(`${dir} is a directory, expected a checkpoint (.pt/.pth/.ckpt) or .onnx file`);
  });

  it('an empty file', async () => {
    const file = writeFixture(tmp, 'empty.pt', '');
    expect((await inspectError(file)).message).toBe(`${file} is empty`);
  });

  it('random bytes', async () => {
    const file = writeFixture(tmp, 'random.bin', Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const err = await inspectError(file);
    expect(err.code).toBe('E_INPUT');
    // The file's bytes are not echoed (issue 8: errors must not print the user's data).
    expect(err.message).toBe(`${file} is neither a PyTorch checkpoint nor an ONNX model (expected a .pt/.pth/.ckpt file written by torch.save, or an .onnx file)`);
  });

  it('a checkpoint cut in half', async () => {
    const whole = readFileSync(compatPath('vqvae2', 'best.pt'));
    const file = writeFixture(tmp, 'half.pt', whole.subarray(0, whole.length >> 1));
    const err = await inspectError(file);
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toMatch(/half\.pt is truncated or corrupt/);
  });

  it('a zip that holds a text file', async () => {
    const file = writeFixture(tmp, 'notes.zip', writeZip([{ name: 'notes.txt', data: Buffer.from('not a model') }]));
    const err = await inspectError(file);
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toMatch(/notes\.zip is a ZIP archive but not a PyTorch checkpoint/);
  });

  it('a zip whose data/<key> entry is shorter than the tensor needs', async () => {
    const file = writeFixture(tmp, 'short.pt', checkpointBytes([{ name: 'enc.weight', shape: [4, 4], truncateBy: 4 }], 'trainer'));
    const err = await inspectError(file);
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toMatch(/short\.pt is truncated or corrupt: tensor enc\.weight needs 64 bytes of storage data\/0 but the entry holds 60/);
  });

  it('a legacy (pre-1.6) torch file and a plain pickle', async () => {
    const legacy = Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
    const legacyErr = await inspectError(writeFixture(tmp, 'legacy.pt', legacy));
    expect(legacyErr.code).toBe('E_INPUT');
    expect(legacyErr.message).toMatch(/legacy .*not supported: re-save it with torch>=1\.6/);
    const plain = await inspectError(writeFixture(tmp, 'plain.pkl', pickle({ dict: [['a', 1]] })));
    expect(plain.message).toMatch(/plain Python pickle/);
  });

  it('an unknown opcode inside a torch zip', async () => {
    const evil = new PickleBuilder().proto().byte(0x92).stop().finish();
    const file = writeFixture(tmp, 'opcode.pt', torchZip({ pickle: evil, storages: new Map() }));
    const err = await inspectError(file);
    expect(err.code).toBe('E_UNSAFE');
    expect(err.message).toMatch(/opcode NEWOBJ_EX/);
  });

  it('a bare state dict of an unknown model is generic with a reason, not an error', async () => {
    const file = writeFixture(tmp, 'mlp.pt', checkpointBytes([{ name: 'fc1.weight', shape: [8, 4] }, { name: 'fc1.bias', shape: [8] }]));
    const report = await inspectModelFile(file);
    expect(report).toMatchObject({ format: 'pytorch', checkpoint_format: 'state_dict', type: 'generic', n_tensors: 2, n_params: 40, hyper_parameters: {} });
    expect(report.reason).toMatch(/^no FRAMEWORM fingerprint matched: none of encoder\.fc_mu\.weight, .* \(first keys: fc1\.weight, fc1\.bias\)$/);
    expect(formatInspection(report)).toMatch(/architecture\s+generic \(no FRAMEWORM fingerprint matched/);
  });
});

describe('inspectModelFile: malicious pickles execute nothing', () => {
  const attacks: [string, string][] = [
    ['os', 'system'],
    ['posix', 'system'],
    ['subprocess', 'Popen'],
    ['builtins', 'eval'],
  ];
  for (const [module, name] of attacks) {
    it(`${module}.${name}`, async () => {
      const marker = path.join(tmp, `pwned-${module}-${name}`);
      const command = `touch ${marker}`;
      // Each payload, under Python's pickle.load, would create `marker`.
      const arg = name === 'Popen' ? { tuple: ['touch', marker] } : name === 'eval' ? `__import__('os').system('${command}')` : command;
      const sd = stateDict([{ name: 'w', shape: [2] }]);
      const root = new PickleBuilder().proto().mark().str('model_state_dict').value(sd.value).str('payload').finish();
      const payload = hostilePickle(module, name, arg).subarray(2, -1); // drop PROTO and STOP: splice into the dict
      const evil = Buffer.concat([Buffer.from([0x80, 0x02, 0x7d]), root.subarray(2), payload, Buffer.from([0x75, 0x2e])]);
      const file = writeFixture(tmp, `${module}-${name}.pt`, torchZip({ pickle: evil, storages: sd.storages }));
      const err = await inspectError(file);
      expect(err.code).toBe('E_UNSAFE');
      expect(err.message).toBe(`refused to load ${file}: the pickle references ${module}.${name}, which a checkpoint never needs; nothing was executed`);
      expect(existsSync(marker)).toBe(false);
    });
  }
});
