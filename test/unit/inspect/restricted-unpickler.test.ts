import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import { toJson } from '../../../main/inspect/pickle-json.js';
import { isDict, isTensor } from '../../../main/inspect/pickle-types.js';
import { DEFAULT_LIMITS, unpickle } from '../../../main/inspect/restricted-unpickler.js';
import { readZip, readZipEntry } from '../../../main/inspect/zip-reader.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { PickleBuilder, pickle } from '../../fixtures/inspect/pickle-builder.js';
import { hostilePickle } from '../../fixtures/inspect/torch-fixture.js';

function errorOf(fn: () => unknown): FramewormError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FramewormError);
    return err as FramewormError;
  }
  throw new Error('expected a FramewormError');
}

describe('unpickle: plain values', () => {
  it('decodes dicts, lists, tuples, ints of every width, floats, None and booleans', () => {
    const value = unpickle(
      pickle({
        dict: [
          ['ints', [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 40, -(2 ** 40), 2n ** 80n]],
          ['floats', [{ float: 0.5 }, { float: -1e-300 }, { float: Infinity }]],
          ['misc', { tuple: [null, true, false, 'ünïcode'] }],
          [7, 'int key'],
        ],
      }),
      't.pkl',
    );
    expect(toJson(value)).toEqual({
      ints: [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 40, -(2 ** 40), (2n ** 80n).toString()],
      floats: [0.5, -1e-300, 'inf'],
      misc: [null, true, false, 'ünïcode'],
      7: 'int key',
    });
  });

  it('returns tensors as descriptors without copying data', () => {
    const value = unpickle(
      pickle({ ordered: [['w', { tensor: { storageClass: 'HalfStorage', key: '3', storageNumel: 40, shape: [2, 3], stride: [1, 2], offset: 4 } }]] }),
      't.pkl',
    );
    expect(isDict(value) && value.ordered).toBe(true);
    const w = isDict(value) ? value.entries.get('w') : undefined;
    expect(isTensor(w)).toBe(true);
    expect(w).toMatchObject({ kind: 'tensor', dtype: 'float16', shape: [2, 3], stride: [1, 2], storageKey: '3', storageOffset: 4, numel: 6 });
  });

  it('maps every allowed storage class to its dtype', () => {
    const classes = {
      FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16', LongStorage: 'int64',
      IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8', BoolStorage: 'bool',
    };
    for (const [storageClass, dtype] of Object.entries(classes)) {
      const v = unpickle(pickle({ tensor: { storageClass, key: '0', storageNumel: 1, shape: [] } }), 't.pkl');
      expect(v).toMatchObject({ kind: 'tensor', dtype, numel: 1 });
    }
  });

  it('reads every real data.pkl of the compat set', () => {
    for (const file of [['vae', 'best.pt'], ['cfg_ddpm', 'best.pt'], ['dcgan', 'final.pt']] as const) {
      const buf = readFileSync(compatPath(...file));
      const zip = readZip(buf, file[1]);
      const entry = zip.entries.find((e) => e.name.endsWith('/data.pkl'))!;
      const root = unpickle(readZipEntry(buf, entry, file[1]), file[1]);
      expect(isDict(root)).toBe(true);
      const sd = isDict(root) ? root.entries.get('model_state_dict') : undefined;
      expect(isDict(sd) && sd.ordered && [...sd.entries.values()].every(isTensor)).toBe(true);
    }
  });

  it('ignores BUILD on an OrderedDict (the _metadata attribute)', () => {
    const b = new PickleBuilder().proto().value({ ordered: [['a', 1]] });
    b.value({ dict: [['_metadata', { dict: [['', { dict: [['version', 1]] }]] }]] }).build().stop();
    expect(toJson(unpickle(b.finish(), 't.pkl'))).toEqual({ a: 1 });
  });

  it('survives self-referencing containers when converting to JSON', () => {
    // ] q0 h0 a . — a list that contains itself.
    const b = new PickleBuilder().proto().byte(0x5d).put().getMemo(0).byte(0x61).stop();
    expect(toJson(unpickle(b.finish(), 't.pkl'))).toEqual(['<cycle>']);
  });
});

describe('unpickle: refused input', () => {
  const hostile: [string, string][] = [
    ['os', 'system'],
    ['posix', 'system'],
    ['subprocess', 'Popen'],
    ['builtins', 'eval'],
    ['builtins', 'getattr'],
    ['torch', 'load'],
  ];
  for (const [module, name] of hostile) {
    it(`refuses GLOBAL ${module} ${name} with E_UNSAFE naming it`, () => {
      const err = errorOf(() => unpickle(hostilePickle(module, name, 'echo pwned'), 'evil.pt'));
      expect(err.code).toBe('E_UNSAFE');
      expect(err.message).toBe(
        `refused to load evil.pt: the pickle references ${module}.${name}, which a checkpoint never needs; nothing was executed`,
      );
    });
  }

  it('adds a re-save hint for classes of a user package (a pickled whole model)', () => {
    const err = errorOf(() => unpickle(hostilePickle('models.vae', 'VAE', 1), 'model.pt'));
    expect(err.code).toBe('E_UNSAFE');
    expect(err.message).toMatch(/models\.vae\.VAE.*torch\.save\(model\.state_dict\(\), path\)/);
  });

  it('refuses to call an allowed class that is not a callable in checkpoints', () => {
    const b = new PickleBuilder().proto().global('torch', 'FloatStorage').value({ tuple: [10] }).reduce().stop();
    const err = errorOf(() => unpickle(b.finish(), 'x.pt'));
    expect(err.code).toBe('E_UNSAFE');
    expect(err.message).toMatch(/calls torch\.FloatStorage/);
  });

  it('refuses opcodes outside the list, naming them', () => {
    const cases: [number[], RegExp][] = [
      [[0x80, 0x02, 0x92], /opcode NEWOBJ_EX \(0x92\) at byte 2/],
      [[0x80, 0x05, 0x97], /opcode NEXT_BUFFER \(0x97\)/],
      [[0x80, 0x05, 0x98], /opcode READONLY_BUFFER \(0x98\)/],
      [[0x80, 0x02, 0x69], /opcode INST \(0x69\)/],
      [[0x80, 0x02, 0x81], /opcode NEWOBJ \(0x81\)/],
      [[0x80, 0x02, 0xff], /unknown opcode 0xff at byte 2/],
      [[0x80, 0x02, 0x30], /opcode POP \(0x30\)/],
    ];
    for (const [bytes, pattern] of cases) {
      const err = errorOf(() => unpickle(Buffer.from(bytes), 'x.pt'));
      expect(err.code).toBe('E_UNSAFE');
      expect(err.message).toMatch(pattern);
      expect(err.message).toMatch(/nothing was executed/);
    }
  });

  it('reports malformed pickles as E_INPUT', () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from([0x80, 0x02, 0x7d]), /ends before the STOP opcode/],
      [Buffer.from([0x80, 0x02, 0x68, 0x05, 0x2e]), /memo slot 5 is read before it is written/],
      [Buffer.from([0x80, 0x02, 0x74, 0x2e]), /needs a MARK/],
      [Buffer.from([0x80, 0x02, 0x4b, 0x01, 0x61, 0x2e]), /needs a value but the stack is empty/],
      [Buffer.from([0x80, 0x02, 0x5d, 0x28, 0x61, 0x2e]), /pops more values than the stack holds/],
      [Buffer.from([0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0x00]), /exceeds the .*-byte limit|truncated/],
      [Buffer.from([0x80, 0x02, 0x4b, 0x01, 0x4b, 0x02, 0x2e]), /unbalanced stack/],
    ];
    for (const [bytes, pattern] of cases) {
      const err = errorOf(() => unpickle(bytes, 'x.pt'));
      expect(err.code).toBe('E_INPUT');
      expect(err.message).toMatch(pattern);
    }
  });

  it('caps the memo and the stack', () => {
    const b = new PickleBuilder().proto().byte(0x5d);
    for (let i = 0; i < 20; i++) b.put();
    const limits = { ...DEFAULT_LIMITS, maxMemo: 10 };
    expect(errorOf(() => unpickle(b.stop().finish(), 'x.pt', limits)).message).toMatch(/memo grows past 10/);
    const s = new PickleBuilder().proto();
    for (let i = 0; i < 20; i++) s.byte(0x4e);
    expect(errorOf(() => unpickle(s.stop().finish(), 'x.pt', { ...DEFAULT_LIMITS, maxStack: 10 })).message).toMatch(/stack grows past 10/);
  });

  it('rejects persistent ids that are not torch storages', () => {
    const b = new PickleBuilder().proto().value({ tuple: ['module', 'os'] }).byte(0x51).stop();
    const err = errorOf(() => unpickle(b.finish(), 'x.pt'));
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toMatch(/not a torch storage reference/);
  });
});
