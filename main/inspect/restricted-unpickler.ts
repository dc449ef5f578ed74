/**
 * A pickle interpreter that understands only what `torch.save` writes for a state dict.
 *
 * Python's pickle is a small stack machine whose GLOBAL + REDUCE opcodes can call any importable
 * function, so loading an untrusted checkpoint with it runs code. This interpreter runs no Python
 * at all: it knows the opcodes torch emits for protocols 2 to 5 (`torch.save(...,
 * pickle_protocol=N)`: framing, short strings, MEMOIZE and STACK_GLOBAL come with 4) and a
 * handful of allowed globals, and turns everything else into FramewormError E_UNSAFE before any
 * effect. Calls to allowed globals are interpreted here (OrderedDict() makes a dict,
 * _rebuild_tensor_v2(...) makes a descriptor). Protocol 5's out-of-band buffers (NEXT_BUFFER,
 * READONLY_BUFFER) are refused: torch never uses them and they would reference memory outside
 * the file.
 */
import { FramewormError } from '../common/errors.js';
import { printable } from './printable.js';
import {
  STORAGE_DTYPES,
  type DictKey,
  type PickleDict,
  type PickleGlobal,
  type PickleTuple,
  type PickleValue,
  type StorageRef,
  type TensorRef,
  isDict,
  isTensor,
} from './pickle-types.js';

export interface UnpickleLimits {
  readonly maxMemo: number;
  readonly maxStack: number;
  readonly maxMarks: number;
  readonly maxStringBytes: number;
}

/** Generous for any real state dict (one tensor needs ~10 memo slots), small enough to stop abuse. */
export const DEFAULT_LIMITS: UnpickleLimits = {
  maxMemo: 4_000_000,
  maxStack: 4_000_000,
  maxMarks: 100_000,
  maxStringBytes: 16 * 1024 * 1024,
};

const ORDERED_DICT = 'collections.OrderedDict';
const REBUILD_TENSOR = 'torch._utils._rebuild_tensor_v2';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';

/** Every global a torch state-dict checkpoint needs, and nothing else. */
const ALLOWED_GLOBALS: ReadonlyMap<string, PickleGlobal> = new Map<string, PickleGlobal>([
  [ORDERED_DICT, { kind: 'global', qualifiedName: ORDERED_DICT }],
  [REBUILD_TENSOR, { kind: 'global', qualifiedName: REBUILD_TENSOR }],
  [REBUILD_PARAMETER, { kind: 'global', qualifiedName: REBUILD_PARAMETER }],
  ...Object.entries(STORAGE_DTYPES).map(
    ([cls, dtype]): [string, PickleGlobal] => [`torch.${cls}`, { kind: 'global', qualifiedName: `torch.${cls}`, storageDtype: dtype }],
  ),
]);

/** Modules whose presence means an attack rather than an unusual but honest file. */
const HOSTILE_MODULES = new Set([
  'os', 'posix', 'nt', 'subprocess', 'builtins', '__builtin__', 'sys', 'shutil', 'socket', 'importlib', 'runpy',
  'pickle', 'marshal', 'ctypes', 'pty', 'webbrowser', 'code', 'codecs', '_codecs', 'operator', 'functools', 'types',
]);

/** Libraries whose other globals are refused without the "pickled whole model" hint. */
const LIBRARY_MODULES = new Set(['torch', 'numpy', 'collections', 'copyreg', 'copy_reg']);

/** Names of the standard opcodes we refuse, so the error says what the file tried. */
const REFUSED_OPCODE_NAMES: Readonly<Record<number, string>> = {
  0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4c: 'LONG', 0x50: 'PERSID',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x64: 'DICT', 0x67: 'GET',
  0x69: 'INST', 0x6c: 'LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2',
  0x84: 'EXT4', 0x8b: 'LONG4', 0x92: 'NEWOBJ_EX', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

class Machine {
  private pos = 0;
  private readonly stack: PickleValue[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PickleValue>();
  /** Sets are represented as lists (JSON has no sets); this tells ADDITEMS which lists are sets. */
  private readonly sets = new WeakSet<PickleValue & object>();
  /** Every storage the pickle references (model and optimizer alike), by key. */
  readonly storages = new Map<string, StorageRef>();

  constructor(
    private readonly data: Buffer,
    private readonly label: string,
    private readonly limits: UnpickleLimits,
  ) {}

  run(): PickleValue {
    for (;;) {
      if (this.pos >= this.data.length) this.corrupt('it ends before the STOP opcode');
      const at = this.pos;
      const op = this.data[this.pos++]!;
      if (op === 0x2e /* STOP */) {
        if (this.stack.length !== 1) this.corrupt('STOP with an unbalanced stack');
        return this.stack[0]!;
      }
      this.step(op, at);
      if (this.stack.length > this.limits.maxStack) this.corrupt(`its stack grows past ${this.limits.maxStack} items`);
    }
  }

  // Dispatch is a flat switch so the refused-opcode path is the single default branch.
  private step(op: number, at: number): void {
    switch (op) {
      case 0x80: { // PROTO
        const proto = this.u8();
        if (proto > 5) this.corrupt(`unknown pickle protocol ${proto}`);
        return;
      }
      case 0x28: // MARK
        if (this.marks.length >= this.limits.maxMarks) this.corrupt('too many nested MARKs');
        this.marks.push(this.stack.length);
        return;
      case 0x7d: return this.push({ kind: 'dict', ordered: false, entries: new Map() }); // EMPTY_DICT
      case 0x5d: return this.push({ kind: 'list', items: [] }); // EMPTY_LIST
      case 0x29: return this.push({ kind: 'tuple', items: [] }); // EMPTY_TUPLE
      case 0x74: return this.push({ kind: 'tuple', items: this.popMark() }); // TUPLE
      case 0x85: return this.push({ kind: 'tuple', items: this.popN(1) }); // TUPLE1
      case 0x86: return this.push({ kind: 'tuple', items: this.popN(2) }); // TUPLE2
      case 0x87: return this.push({ kind: 'tuple', items: this.popN(3) }); // TUPLE3
      case 0x73: { // SETITEM
        const [key, value] = this.popN(2) as [PickleValue, PickleValue];
        return this.setItems(this.top(), [key, value]);
      }
      case 0x75: { // SETITEMS
        const items = this.popMark();
        return this.setItems(this.top(), items);
      }
      case 0x61: { // APPEND
        const items = this.popN(1);
        return this.append(this.top(), items);
      }
      case 0x65: { // APPENDS
        const items = this.popMark();
        return this.append(this.top(), items);
      }
      case 0x58: return this.push(this.text(this.u32())); // BINUNICODE
      case 0x8c: return this.push(this.text(this.u8())); // SHORT_BINUNICODE (protocol 4)
      case 0x8d: return this.push(this.text(this.u64())); // BINUNICODE8 (protocol 4)
      case 0x43: return this.push(this.bytes(this.u8())); // SHORT_BINBYTES (protocol 3)
      case 0x42: return this.push(this.bytes(this.u32())); // BINBYTES (protocol 3)
      case 0x8e: return this.push(this.bytes(this.u64())); // BINBYTES8 (protocol 4)
      case 0x96: return this.push(this.bytes(this.u64())); // BYTEARRAY8 (protocol 5)
      case 0x95: return this.frame(); // FRAME (protocol 4)
      case 0x94: return this.put(this.memo.size); // MEMOIZE (protocol 4): the next free slot
      case 0x93: return this.push(this.stackGlobal()); // STACK_GLOBAL (protocol 4)
      case 0x8f: return this.push(this.newSet()); // EMPTY_SET (protocol 4)
      case 0x90: { // ADDITEMS (protocol 4)
        const items = this.popMark();
        return this.addItems(this.top(), items);
      }
      case 0x91: return this.push({ kind: 'list', items: this.popMark() }); // FROZENSET (protocol 4)
      case 0x4a: return this.push(this.take(4).readInt32LE(0)); // BININT
      case 0x4b: return this.push(this.u8()); // BININT1
      case 0x4d: return this.push(this.take(2).readUInt16LE(0)); // BININT2
      case 0x8a: return this.push(this.long1()); // LONG1
      case 0x47: return this.push(this.take(8).readDoubleBE(0)); // BINFLOAT
      case 0x4e: return this.push(null); // NONE
      case 0x89: return this.push(false); // NEWFALSE
      case 0x88: return this.push(true); // NEWTRUE
      case 0x63: return this.push(this.global()); // GLOBAL
      case 0x52: { // REDUCE
        const [fn, args] = this.popN(2) as [PickleValue, PickleValue];
        return this.push(this.reduce(fn, args));
      }
      case 0x62: { // BUILD
        // The only BUILD torch writes sets `_metadata` on a state-dict OrderedDict; the state is dropped.
        this.popN(1);
        const obj = this.top();
        if (!isDict(obj) && !isTensor(obj)) this.corrupt('BUILD on something that is not a dict');
        return;
      }
      case 0x51: return this.push(this.persistentId(this.popN(1)[0]!)); // BINPERSID
      case 0x71: return this.put(this.u8()); // BINPUT
      case 0x72: return this.put(this.u32()); // LONG_BINPUT
      case 0x68: return this.get(this.u8()); // BINGET
      case 0x6a: return this.get(this.u32()); // LONG_BINGET
      default: {
        const name = REFUSED_OPCODE_NAMES[op];
        const hex = `0x${op.toString(16).padStart(2, '0')}`;
        const what = name ? `opcode ${name} (${hex})` : `unknown opcode ${hex}`;
        throw new FramewormError(
          'E_UNSAFE',
          `refused to load ${this.label}: the pickle uses ${what} at byte ${at}, which a PyTorch state dict never needs; nothing was executed`,
        );
      }
    }
  }

  private corrupt(problem: string): never {
    throw new FramewormError('E_INPUT', `${this.label} has a corrupt pickle: ${problem}`);
  }

  private push(value: PickleValue): void {
    this.stack.push(value);
  }

  private floor(): number {
    return this.marks.length > 0 ? this.marks[this.marks.length - 1]! : 0;
  }

  private top(): PickleValue {
    if (this.stack.length <= this.floor()) this.corrupt('an opcode needs a value but the stack is empty');
    return this.stack[this.stack.length - 1]!;
  }

  private popN(n: number): PickleValue[] {
    if (this.stack.length - n < this.floor()) this.corrupt('an opcode pops more values than the stack holds');
    return this.stack.splice(this.stack.length - n, n);
  }

  private popMark(): PickleValue[] {
    const mark = this.marks.pop();
    if (mark === undefined) this.corrupt('an opcode needs a MARK that is not there');
    return this.stack.splice(mark, this.stack.length - mark);
  }

  private take(n: number): Buffer {
    if (this.pos + n > this.data.length) this.corrupt('it is truncated');
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private u8(): number {
    return this.take(1)[0]!;
  }

  private u32(): number {
    return this.take(4).readUInt32LE(0);
  }

  /** An 8-byte length (protocol 4); anything past 2^53 cannot be in the buffer anyway. */
  private u64(): number {
    const v = this.take(8).readBigUInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.corrupt('a length field is impossibly large');
    return Number(v);
  }

  /**
   * FRAME only tells a streaming reader how much to buffer; the whole pickle is already in
   * memory, so the frame is checked against what is left and otherwise ignored.
   */
  private frame(): void {
    const length = this.u64();
    if (length > this.data.length - this.pos) this.corrupt(`a FRAME of ${length} bytes runs past the end of the pickle`);
  }

  /** Bytes objects (protocol 3+) only ever appear as metadata: keep their length, not their content. */
  private bytes(length: number): PickleValue {
    if (length > this.limits.maxStringBytes) this.corrupt(`a bytes object of ${length} bytes exceeds the ${this.limits.maxStringBytes}-byte limit`);
    this.take(length);
    return { kind: 'bytes', length };
  }

  private newSet(): PickleValue {
    const set: PickleValue = { kind: 'list', items: [] };
    this.sets.add(set);
    return set;
  }

  private addItems(target: PickleValue, items: PickleValue[]): void {
    if (typeof target !== 'object' || target === null || !this.sets.has(target) || target.kind !== 'list') {
      this.corrupt('ADDITEMS on something that is not a set');
    }
    for (const item of items) target.items.push(item);
  }

  private text(length: number): string {
    if (length > this.limits.maxStringBytes) this.corrupt(`a string of ${length} bytes exceeds the ${this.limits.maxStringBytes}-byte limit`);
    return this.take(length).toString('utf8');
  }

  private long1(): number | bigint {
    const bytes = this.take(this.u8());
    if (bytes.length === 0) return 0;
    let value = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
    value = BigInt.asIntN(bytes.length * 8, value);
    const safe = value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER);
    return safe ? Number(value) : value;
  }

  private line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > 256) this.corrupt('a GLOBAL name is unterminated or too long');
    const s = this.data.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }

  private global(): PickleGlobal {
    const module = this.line();
    const name = this.line();
    return this.resolveGlobal(module, name);
  }

  /** STACK_GLOBAL (protocol 4) takes the module and name from the stack instead of the opcode. */
  private stackGlobal(): PickleGlobal {
    const [module, name] = this.popN(2);
    if (typeof module !== 'string' || typeof name !== 'string') this.corrupt('STACK_GLOBAL without a module and a name string');
    if (module.length > 256 || name.length > 256) this.corrupt('a STACK_GLOBAL name is too long');
    return this.resolveGlobal(module, name);
  }

  /** The one gate every global passes: the allow-list, or E_UNSAFE before anything can call it. */
  private resolveGlobal(module: string, name: string): PickleGlobal {
    const qualified = `${module}.${name}`;
    const allowed = ALLOWED_GLOBALS.get(qualified);
    if (allowed) return allowed;
    const root = module.split('.')[0] ?? module;
    // A class from the user's own package is usually `torch.save(model)` rather than an attack.
    const hint = HOSTILE_MODULES.has(root) || LIBRARY_MODULES.has(root)
      ? ''
      : ' (if this file is a whole pickled model, re-save it with torch.save(model.state_dict(), path))';
    throw new FramewormError(
      'E_UNSAFE',
      `refused to load ${this.label}: the pickle references ${printable(qualified)}, which a checkpoint never needs; nothing was executed${hint}`,
    );
  }

  private put(index: number): void {
    if (!this.memo.has(index) && this.memo.size >= this.limits.maxMemo) this.corrupt(`its memo grows past ${this.limits.maxMemo} entries`);
    this.memo.set(index, this.top());
  }

  private get(index: number): void {
    const value = this.memo.get(index);
    if (value === undefined) this.corrupt(`memo slot ${index} is read before it is written`);
    this.push(value);
  }

  private setItems(target: PickleValue, items: PickleValue[]): void {
    if (!isDict(target)) this.corrupt('SETITEM on something that is not a dict');
    if (items.length % 2 !== 0) this.corrupt('SETITEMS with an odd number of values');
    for (let i = 0; i < items.length; i += 2) target.entries.set(this.dictKey(items[i]!), items[i + 1]!);
  }

  private dictKey(key: PickleValue): DictKey {
    if (key === null || typeof key !== 'object') return key;
    if (key.kind === 'tuple') return `(${key.items.map((k) => String(this.dictKey(k))).join(', ')})`;
    return this.corrupt(`a ${key.kind} used as a dict key`);
  }

  private append(target: PickleValue, items: PickleValue[]): void {
    if (typeof target !== 'object' || target === null || target.kind !== 'list') this.corrupt('APPEND on something that is not a list');
    for (const item of items) target.items.push(item);
  }

  private reduce(fn: PickleValue, args: PickleValue): PickleValue {
    if (typeof fn !== 'object' || fn === null || fn.kind !== 'global') this.corrupt('REDUCE on something that is not a global');
    if (typeof args !== 'object' || args === null || args.kind !== 'tuple') this.corrupt('REDUCE arguments are not a tuple');
    switch (fn.qualifiedName) {
      case ORDERED_DICT:
        if (args.items.length !== 0) this.corrupt('OrderedDict is called with arguments');
        return { kind: 'dict', ordered: true, entries: new Map() } satisfies PickleDict;
      case REBUILD_TENSOR:
        return this.rebuildTensor(args);
      case REBUILD_PARAMETER: {
        const [tensor, requiresGrad] = args.items;
        if (!isTensor(tensor)) this.corrupt('_rebuild_parameter is called without a tensor');
        return { ...tensor, requiresGrad: requiresGrad === true };
      }
      default:
        throw new FramewormError(
          'E_UNSAFE',
          `refused to load ${this.label}: the pickle calls ${fn.qualifiedName}, which a checkpoint never does; nothing was executed`,
        );
    }
  }

  private intTuple(value: PickleValue | undefined, what: string): number[] {
    if (typeof value !== 'object' || value === null || value.kind !== 'tuple') this.corrupt(`a tensor ${what} is not a tuple`);
    return value.items.map((v) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.corrupt(`a tensor ${what} holds ${String(v)}`);
      return v;
    });
  }

  private rebuildTensor(args: PickleTuple): TensorRef {
    const [storage, offset, size, stride, requiresGrad] = args.items;
    if (typeof storage !== 'object' || storage === null || storage.kind !== 'storage') this.corrupt('_rebuild_tensor_v2 without a storage');
    if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) this.corrupt('a tensor has a bad storage offset');
    const shape = this.intTuple(size, 'shape');
    const strides = this.intTuple(stride, 'stride');
    if (shape.length !== strides.length) this.corrupt('a tensor has a shape and a stride of different lengths');
    const numel = shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(numel)) this.corrupt('a tensor has an impossibly large shape');
    return {
      kind: 'tensor',
      dtype: storage.dtype,
      shape,
      stride: strides,
      storageKey: storage.key,
      storageOffset: offset,
      numel,
      requiresGrad: requiresGrad === true,
    };
  }

  private persistentId(pid: PickleValue): StorageRef {
    if (typeof pid !== 'object' || pid === null || pid.kind !== 'tuple') this.corrupt('a persistent id is not a tuple');
    const [tag, cls, key, location, numel] = pid.items;
    if (tag !== 'storage' || typeof cls !== 'object' || cls === null || cls.kind !== 'global' || !cls.storageDtype) {
      this.corrupt('a persistent id is not a torch storage reference');
    }
    if (typeof key !== 'string' || key.length === 0 || key.includes('/')) this.corrupt('a storage has a bad key');
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) this.corrupt(`storage ${key} has a bad size`);
    const ref: StorageRef = { kind: 'storage', dtype: cls.storageDtype, key, location: typeof location === 'string' ? location : '', numel };
    const earlier = this.storages.get(key);
    // torch writes each storage once; two different declarations of one key would let the
    // model's view and the size check disagree about the same bytes.
    if (earlier && (earlier.dtype !== ref.dtype || earlier.numel !== ref.numel)) this.corrupt(`storage ${key} is declared twice with different sizes`);
    this.storages.set(key, ref);
    return ref;
  }
}

/**
 * Interprets a torch `data.pkl` without executing anything.
 *
 * Throws FramewormError E_UNSAFE when the pickle references a global outside the allow-list or
 * uses an opcode torch does not write, and E_INPUT when it is malformed or exceeds `limits`.
 * `label` names the file in messages.
 */
export function unpickle(data: Buffer, label: string, limits: UnpickleLimits = DEFAULT_LIMITS): PickleValue {
  return new Machine(data, label, limits).run();
}

/** What a checkpoint's pickle holds, plus every storage it references. */
export interface UnpickledCheckpoint {
  readonly root: PickleValue;
  /** Each referenced storage once, by key, as the pickle declared it (dtype and element count). */
  readonly storages: ReadonlyMap<string, StorageRef>;
}

/**
 * Like {@link unpickle}, and also returns every storage the pickle references, including those
 * outside the state dict (optimizer state), so their declared sizes can be checked against the
 * archive before anything reads them.
 */
export function unpickleCheckpoint(data: Buffer, label: string, limits: UnpickleLimits = DEFAULT_LIMITS): UnpickledCheckpoint {
  const machine = new Machine(data, label, limits);
  const root = machine.run();
  return { root, storages: machine.storages };
}
