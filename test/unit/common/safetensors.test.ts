import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, encodeSafetensorsBuffer, SafetensorsFormatError, type SafetensorsEntry } from '../../../main/common/safetensors.js';

/** A file written by hand: header text as given (no padding), then `data`. */
function file(header: unknown, data: Uint8Array = new Uint8Array(0), declared?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(declared ?? BigInt(json.length));
  return Buffer.concat([head, json, data]);
}

function refusal(buf: Uint8Array, options?: { maxHeaderBytes?: number }): string {
  try {
    decodeSafetensors(buf, options);
  } catch (err) {
    expect(err).toBeInstanceOf(SafetensorsFormatError);
    return (err as Error).message;
  }
  throw new Error('decoded a malformed body');
}

const f32 = (...v: number[]): Float32Array => Float32Array.from(v);
const bytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('safetensors codec', () => {
  it('round-trips tensors of every carried dtype and metadata, in order, data 8-byte aligned', () => {
    const entries: SafetensorsEntry[] = [
      { name: 'images', dtype: 'F32', shape: [2, 1, 2, 2], data: f32(0, -1, 1, 0.5, 0.25, -0.125, 3.5e-8, 1e30) },
      { name: '0', dtype: 'I64', shape: [2], data: BigInt64Array.from([-(2n ** 62n), 7n]) },
      { name: 'd', dtype: 'F64', shape: [1], data: Float64Array.from([Math.PI]) },
      { name: 'h', dtype: 'F16', shape: [3], data: Uint16Array.from([0x3c00, 0xbc00, 0]) },
      { name: 'b', dtype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1]) },
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      { name: 'scalar', dtype: 'I32', shape: [], data: Int32Array.from([-5]) },
    ];
    const metadata = { model: 'dcgan', seed: '42', 'ünï': 'line\nbreak "quoted"' };
    const buf = encodeSafetensorsBuffer(entries, metadata);
    const n = Number(buf.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const header = buf.subarray(8, 8 + n).toString('utf8');
    // Order as given: metadata first, then "images" before the integer-like name "0".
    expect(header.indexOf('__metadata__')).toBe(2);
    expect(header.indexOf('"images"')).toBeLessThan(header.indexOf('"0"'));
    const decoded = decodeSafetensors(buf);
    expect(decoded.metadata).toEqual(metadata);
    expect([...decoded.tensors.keys()]).toEqual(entries.map((e) => e.name));
    for (const e of entries) {
      const t = decoded.tensors.get(e.name)!;
      expect(t.dtype).toBe(e.dtype);
      expect(t.shape).toEqual(e.shape);
      expect(Buffer.from(t.bytes).equals(Buffer.from(bytes(e.data)))).toBe(true);
    }
  });

  it('hands out the callers memory as parts instead of copying it', () => {
    const data = f32(1, 2, 3, 4);
    const { parts, byteLength } = encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [4], data }]);
    expect(parts).toHaveLength(2);
    expect(parts[1]!.buffer).toBe(data.buffer);
    expect(byteLength).toBe(parts[0]!.length + 16);
  });

  it('refuses data that does not match the shape when encoding', () => {
    expect(() => encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [3], data: f32(1, 2) }])).toThrow(/shape \[3\] of F32 \(12 bytes\) but 8 bytes/);
    expect(() => encodeSafetensors([{ name: '__metadata__', dtype: 'F32', shape: [1], data: f32(1) }])).toThrow(/reserved/);
  });

  it('refuses every malformed body with a message naming the problem', () => {
    const x = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const eight = new Uint8Array(8);
    const cases: [string, Uint8Array, RegExp][] = [
      ['short', new Uint8Array(5), /5 bytes, fewer than the 8-byte header length/],
      ['header over the limit', file({ x }, eight, 2n ** 40n), /header length is 1099511627776 bytes, more than the limit/],
      ['header past the end', file({ x }, eight, 500n), /header length is 500 bytes but only \d+ bytes follow/],
      ['tiny header', file('{', new Uint8Array(0), 1n), /too short for a JSON object/],
      ['not utf-8', file(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1')), /not valid UTF-8|not valid JSON/],
      ['leading space', file(' {}'), /must be a JSON object starting with '\{'/],
      ['not JSON', file('{"x": }'), /the header is not valid JSON/],
      ['not an object', file('{}'.replace('{}', '{"a":1}'), new Uint8Array(0)), /tensor 'a' must be an object/],
      ['metadata not strings', file({ __metadata__: { seed: 4 } }), /'__metadata__' value 'seed' must be a string \(got 4\)/],
      ['metadata not object', file({ __metadata__: ['a'] }), /'__metadata__' must be an object of strings/],
      ['unknown key', file({ x: { ...x, extra: 1 } }, eight), /tensor 'x' has an unknown key 'extra'/],
      ['unknown dtype', file({ x: { ...x, dtype: 'F128' } }, eight), /tensor 'x' has unknown dtype "F128"/],
      ['bad shape', file({ x: { ...x, shape: [-2] } }, eight), /tensor 'x' shape must be an array of non-negative integers/],
      ['fractional shape', file({ x: { ...x, shape: [1.5] } }, eight), /shape must be an array of non-negative integers/],
      ['bad offsets', file({ x: { ...x, data_offsets: [0] } }, eight), /data_offsets must be \[begin, end\]/],
      ['reversed offsets', file({ x: { ...x, data_offsets: [8, 0] } }, eight), /end before they begin/],
      ['offsets past the data', file({ x: { ...x, data_offsets: [0, 16] } }, eight), /reach past the 8 bytes of data/],
      ['shape/bytes mismatch', file({ x: { ...x, shape: [3] } }, eight), /shape \[3\] of F32 \(12 bytes\) but data_offsets \[0, 8\] span 8 bytes/],
      ['overflowing shape', file({ x: { ...x, shape: [2 ** 40, 2 ** 40] } }, eight), /has too many elements/],
      ['overlap', file({ x, y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight), /overlap the previous tensor's/],
      ['gap', file({ y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight), /the bytes 0 to 4 of the data belong to no tensor/],
      ['trailing junk', file({ x }, new Uint8Array(12)), /4 bytes after the last tensor's data/],
      ['data with no tensors', file({}, new Uint8Array(3)), /3 bytes after the last tensor's data/],
    ];
    for (const [what, buf, message] of cases) expect(refusal(buf), what).toMatch(message);
    expect(refusal(file({ x }, eight), { maxHeaderBytes: 16 })).toMatch(/more than the limit of 16/);
  });

  it('accepts files written by others: no padding, no metadata, zero-size tensors, any entry order', () => {
    const data = Buffer.concat([Buffer.from(f32(1, 2).buffer), Buffer.from(Int32Array.from([9]).buffer)]);
    const t = decodeSafetensors(file({ b: { dtype: 'I32', shape: [1], data_offsets: [8, 12] }, e: { dtype: 'U8', shape: [0], data_offsets: [8, 8] }, a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data));
    expect([...t.tensors.keys()]).toEqual(['a', 'e', 'b']);
    expect(t.metadata).toEqual({});
    expect(new Float32Array(Uint8Array.from(t.tensors.get('a')!.bytes).buffer)).toEqual(f32(1, 2));
  });

  it('writes the same bytes as the generated server (templates/server/safetensors_codec.py)', () => {
    const server = path.resolve('templates/server');
    const script = [
      'import sys, numpy as np',
      `sys.path.insert(0, ${JSON.stringify(server)})`,
      'import safetensors_codec as st',
      'body = st.encode([("images", np.array([[0.5, -1.0, 3.25]], dtype=np.float32)), ("0", np.array([7, -8], dtype=np.int64)), ("m", np.array([True, False]))],',
      '                 {"model": "dcgan ünï", "note": "a\\nb\\t\\"c\\"\\u0001", "seed": "42"})',
      'sys.stdout.buffer.write(body)',
    ].join('\n');
    const fromPython = execFileSync('/usr/bin/python3', ['-c', script]);
    const fromTs = encodeSafetensorsBuffer(
      [
        { name: 'images', dtype: 'F32', shape: [1, 3], data: f32(0.5, -1, 3.25) },
        { name: '0', dtype: 'I64', shape: [2], data: BigInt64Array.from([7n, -8n]) },
        { name: 'm', dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) },
      ],
      { model: 'dcgan ünï', note: 'a\nb\t"c"\u0001', seed: '42' },
    );
    expect(fromPython.toString('hex')).toBe(fromTs.toString('hex'));
  });
});
