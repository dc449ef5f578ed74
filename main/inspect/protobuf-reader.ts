/**
 * A minimal protobuf wire-format reader: enough to walk ONNX's ModelProto without generated code.
 *
 * Every length is checked against the enclosing message, so truncated or hostile input fails
 * with a ProtobufError instead of reading out of bounds. Callers turn that into E_INPUT.
 */

export class ProtobufError extends Error {}

export const WireType = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

export interface Field {
  readonly number: number;
  readonly wireType: number;
  /** VARINT / I64 / I32 values as bigint (unsigned bit pattern). */
  readonly int?: bigint;
  /** LEN payload: a view into the original buffer. */
  readonly bytes?: Buffer;
}

/** Iterates the fields of one message. */
export class ProtoReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  private varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw new ProtobufError('a varint runs past the end of the data');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new ProtobufError('a varint is longer than 10 bytes');
  }

  private fixed(n: number): bigint {
    if (this.pos + n > this.buf.length) throw new ProtobufError('a fixed-width field runs past the end of the data');
    const v = n === 8 ? this.buf.readBigUInt64LE(this.pos) : BigInt(this.buf.readUInt32LE(this.pos));
    this.pos += n;
    return v;
  }

  /** The next field, or null at the end of the message. */
  next(): Field | null {
    if (this.done) return null;
    const key = this.varint();
    const number = Number(key >> 3n);
    const wireType = Number(key & 7n);
    if (number === 0) throw new ProtobufError('field number 0 is invalid');
    switch (wireType) {
      case WireType.VARINT:
        return { number, wireType, int: this.varint() };
      case WireType.I64:
        return { number, wireType, int: this.fixed(8) };
      case WireType.I32:
        return { number, wireType, int: this.fixed(4) };
      case WireType.LEN: {
        const len = this.varint();
        if (len > BigInt(this.buf.length - this.pos)) throw new ProtobufError(`field ${number} claims ${len} bytes but only ${this.buf.length - this.pos} remain`);
        const start = this.pos;
        this.pos += Number(len);
        return { number, wireType, bytes: this.buf.subarray(start, this.pos) };
      }
      default:
        // Groups (3/4) are deprecated and never used by ONNX; anything else is not protobuf.
        throw new ProtobufError(`field ${number} has unsupported wire type ${wireType}`);
    }
  }
}

/** Reads every field of a message into a list (messages in ONNX are small apart from tensors). */
export function readFields(buf: Buffer): Field[] {
  const reader = new ProtoReader(buf);
  const out: Field[] = [];
  for (let f = reader.next(); f; f = reader.next()) out.push(f);
  return out;
}

/** A VARINT field as a signed 64-bit number (int64 semantics), or throws if not a varint. */
export function asInt(field: Field): number {
  if (field.int === undefined) throw new ProtobufError(`field ${field.number} should be an integer`);
  return Number(BigInt.asIntN(64, field.int));
}

/** A LEN field decoded as UTF-8. */
export function asString(field: Field): string {
  if (field.bytes === undefined) throw new ProtobufError(`field ${field.number} should be a string`);
  return field.bytes.toString('utf8');
}

/** A LEN field's payload (a nested message). */
export function asBytes(field: Field): Buffer {
  if (field.bytes === undefined) throw new ProtobufError(`field ${field.number} should be a message`);
  return field.bytes;
}

/** Repeated int64 values, accepting both packed (LEN) and unpacked (VARINT) encodings. */
export function asInts(field: Field): number[] {
  if (field.int !== undefined) return [asInt(field)];
  const out: number[] = [];
  const packed = asBytes(field);
  let pos = 0;
  while (pos < packed.length) {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= packed.length) throw new ProtobufError('a packed varint runs past the end of its field');
      const b = packed[pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) break;
      if (shift > 63n) throw new ProtobufError('a packed varint is too long');
    }
    out.push(Number(BigInt.asIntN(64, v)));
  }
  return out;
}
