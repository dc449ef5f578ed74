/**
 * Docker names derived from model names (issue 8, defect 10): case variants of a name never
 * share an image, a compose project or a container; names that can never be a reference are
 * refused with the rule. The expected hashes are computed independently here (sha256 of the
 * exact name), not read back from the code under test.
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { assertImageableName, composeProjectName, imageRef, imageRepository, isImageableName } from '../../../main/docker/image-names.js';

const h8 = (s: string): string => crypto.createHash('sha256').update(s).digest('hex').slice(0, 8);

// distribution/reference: a repository path component and a whole reference.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*$/;
const REFERENCE = /^frameworm\/([a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*):(\w[\w.-]{0,127})$/;

describe('image names derived from model names', () => {
  it('a name that already is a lowercase reference is used as it is', () => {
    for (const name of ['probe-upper', 'dcgan', 'a.b', 'a__b', 'a---b', 'x1_2', '0']) {
      expect(imageRepository(name)).toBe(name);
      expect(imageRef(name, 'v1')).toBe(`frameworm/${name}:v1`);
    }
  });

  it('any other name is lowercased with a hash of the exact name, so case variants differ', () => {
    expect(imageRef('PROBE-Upper', 'v1')).toBe(`frameworm/probe-upper-${h8('PROBE-Upper')}:v1`);
    expect(imageRef('Probe-Upper', 'v1')).toBe(`frameworm/probe-upper-${h8('Probe-Upper')}:v1`);
    const variants = ['probe-upper', 'PROBE-Upper', 'Probe-Upper', 'probe-UPPER', 'PROBE-UPPER'];
    const refs = variants.map((n) => imageRef(n, 'v1'));
    expect(new Set(refs).size).toBe(variants.length);
    for (const r of refs) expect(r).toMatch(REFERENCE);
    // Deterministic: the same name always gives the same reference.
    expect(imageRef('PROBE-Upper', 'v1')).toBe(refs[1]);
  });

  it('versions keep their case: tags are case-sensitive', () => {
    expect(imageRef('m', 'V1')).toBe('frameworm/m:V1');
    expect(imageRef('m', 'V1')).not.toBe(imageRef('m', 'v1'));
    expect(imageRef('m', 'rc.1-b_2')).toBe('frameworm/m:rc.1-b_2');
  });

  it('names that can never be a reference are refused with the rule (E_USAGE)', () => {
    for (const name of ['a.', 'a..b', 'a_', 'a-', 'A.', 'a___b', 'a._b', 'a.-b', 'a-.b', 'a__', 'x_-y']) {
      expect(isImageableName(name), name).toBe(false);
      expect(() => assertImageableName(name), name).toThrow(expect.objectContaining({ code: 'E_USAGE', message: expect.stringMatching(/cannot name a Docker image: use letters and digits separated by single '\.', one or two '_'/) }));
      expect(() => imageRef(name, 'v1'), name).toThrow(/cannot name a Docker image/);
    }
    for (const name of ['a', 'A', 'a.b', 'A.B', 'a_b', 'a__b', 'a-b', 'a--b', 'Faces', 'PROBE-Upper']) {
      expect(isImageableName(name), name).toBe(true);
      expect(() => assertImageableName(name)).not.toThrow();
      expect(imageRepository(name)).toMatch(COMPONENT);
    }
  });

  it('compose project names are unique per exact name and valid for compose', () => {
    const project = /^[a-z0-9][a-z0-9_-]*$/;
    const names = ['probe-upper', 'PROBE-Upper', 'a.b', 'a-b', 'A.b', 'A-b', 'x__y'];
    const projects = names.map(composeProjectName);
    expect(new Set(projects).size).toBe(names.length);
    for (const p of projects) expect(p).toMatch(project);
    expect(composeProjectName('probe-upper')).toBe('probe-upper');
    expect(composeProjectName('PROBE-Upper')).toBe(`probe-upper-${h8('PROBE-Upper')}`);
    expect(composeProjectName('a.b')).toBe(`a-b-${h8('a.b')}`);
    expect(composeProjectName('A.b')).toBe(`a-b-${h8('A.b')}`);
  });
});
