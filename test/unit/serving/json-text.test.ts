import { describe, expect, it } from 'vitest';
import { encodeOutputBytes, encodeOutputText, JsonText, toJsonBody, toJsonString } from '../../../main/serving/json-text.js';
import { encodeTensor } from '../../../main/serving/schemas/tensor-codec.js';

const text = (s: string): JsonText => new JsonText(Buffer.from(s, 'latin1'));

describe('JsonText / toJsonBody', () => {
  it('splices fragments where JSON.stringify would have encoded the value, at any depth', () => {
    const images = [[[[0.1, -0.25]]], [[[1, Number.NaN]]]];
    const plain = { images, seed: 7, outputs: { a: [1, 2], b: [[true, false]] }, model: 'm' };
    const spliced = {
      images: text(JSON.stringify(images)),
      seed: 7,
      outputs: { a: text('[1,2]'), b: text('[[true,false]]') },
      model: 'm',
    };
    expect(toJsonString(spliced)).toBe(JSON.stringify(plain));
    expect(Buffer.isBuffer(toJsonBody(spliced))).toBe(true);
    expect(toJsonBody(plain)).toBe(JSON.stringify(plain));
    expect(toJsonString(plain)).toBe(JSON.stringify(plain));
  });

  it('leaves strings that merely look like placeholders alone and nests safely', () => {
    const out = toJsonString({ note: '@@frameworm-json-fragment@@0@@frameworm-json-fragment@@x', v: text('[3]'), é: 'ü' });
    expect(JSON.parse(out)).toEqual({ note: '@@frameworm-json-fragment@@0@@frameworm-json-fragment@@x', v: [3], é: 'ü' });
  });

  it('serialises as its parsed value under a plain JSON.stringify', () => {
    expect(JSON.stringify({ v: text('[1,[2,3]]') })).toBe('{"v":[1,[2,3]]}');
  });

  it('encodeOutputText matches the main-thread encoders', () => {
    const t = { dtype: 'float32' as const, dims: [1, 1, 2, 2], data: new Float32Array([-1, -0.5, 0.5, 1]) };
    expect(encodeOutputText(t, 'json')).toBe(JSON.stringify(encodeTensor(t)));
    expect(encodeOutputBytes(t, 'json').toString('latin1')).toBe(encodeOutputText(t, 'json'));
    const png = JSON.parse(encodeOutputText(t, 'png[-1,1]')) as string[];
    expect(png).toHaveLength(1);
    expect(Buffer.from(png[0]!, 'base64').subarray(1, 4).toString()).toBe('PNG');
    expect(encodeOutputText(t, 'png[0,1]')).not.toBe(encodeOutputText(t, 'png[-1,1]'));
  });
});
