/**
 * DESIGN.md §5: the same seed gives the same output on every target, so templates/frameworm/
 * noise.py (the generated server's generator) must produce the same bits as noise.ts.
 */
import { describe, expect, it } from 'vitest';
import { normals, rawWords, uniforms } from '../../../main/sampling/noise.js';
import { requirePython, runPython } from './python.js';

const python = requirePython(['numpy', 'frameworm.noise']);

// Over 1.3M normals in all, across seeds near 0 and near 2^53, odd counts and chunk boundaries.
const CASES: readonly (readonly [number, number, number])[] = [
  [0, 0, 1_000_000],
  [1, 1, 262_145], // one past noise.py's 2^18 chunk
  [123_456_789, 5, 50_001],
  [2 ** 53 - 1, 17, 33],
  [2 ** 32, 2 ** 32 + 1, 4097],
  [31_337, 999, 1],
];

const NORMALS_SCRIPT = `
import json, sys
from frameworm import noise
for seed, stream, count in json.loads(sys.argv[1]):
    sys.stdout.buffer.write(noise.normals(seed, stream, count).astype('<f4').tobytes())
`;

const SCALARS_SCRIPT = `
import json, sys
from frameworm import noise
out = []
for seed, stream, count in json.loads(sys.argv[1]):
    out.append({"words": [str(int(w)) for w in noise.raw_words(seed, stream, count)],
                "uniforms": [str(int(b)) for b in noise.uniforms(seed, stream, count).view("<u8")]})
print(json.dumps(out))
`;

/** The bits of a float64 as a decimal string, for an exact textual comparison. */
const float64Bits = (value: number): string => String(new BigUint64Array(new Float64Array([value]).buffer)[0]);

describe('noise generator: TypeScript = Python (numpy)', () => {
  it('normals are bit-identical for every case (reports the mismatch count)', () => {
    const bytes = runPython(python, NORMALS_SCRIPT, [JSON.stringify(CASES)]);
    const py = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    let offset = 0;
    let mismatches = 0;
    let maxAbsDiff = 0;
    for (const [seed, stream, count] of CASES) {
      const ts = normals(seed, stream, count);
      for (let i = 0; i < count; i++) {
        const a = ts[i] as number;
        const b = py[offset + i] as number;
        // Object.is also tells −0 from 0: the sequences must match bit for bit.
        if (!Object.is(a, b)) {
          mismatches++;
          maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a - b));
        }
      }
      offset += count;
    }
    expect(offset).toBe(py.length);
    console.log(`noise cross-language: ${offset} normals compared, ${mismatches} mismatches, max |Δ| ${maxAbsDiff}`);
    expect({ mismatches, maxAbsDiff }).toEqual({ mismatches: 0, maxAbsDiff: 0 });
  });

  it('raw words and uniforms are identical', () => {
    const small = CASES.map(([seed, stream]) => [seed, stream, 2050] as const);
    const out = JSON.parse(runPython(python, SCALARS_SCRIPT, [JSON.stringify(small)]).toString('utf8')) as {
      words: string[];
      uniforms: string[];
    }[];
    small.forEach(([seed, stream, count], k) => {
      expect(out[k]?.words).toEqual([...rawWords(seed, stream, count)].map(String));
      expect(out[k]?.uniforms).toEqual([...uniforms(seed, stream, count)].map(float64Bits));
    });
  });

  it('both reject the same bad seeds', () => {
    const script = `
from frameworm import noise
bad = 0
for seed in (-1, 2**53, 1.5, True):
    try:
        noise.normals(seed, 0, 4)
    except ValueError:
        bad += 1
print(bad)
`;
    expect(runPython(python, script).toString('utf8').trim()).toBe('4');
  });
});
