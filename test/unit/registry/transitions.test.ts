import { afterEach, describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import { STAGES, type Stage } from '../../../main/common/types.js';
import {
  PROMOTE_TRANSITIONS, explainTransition, isTransitionAllowed,
} from '../../../main/registry/transitions.js';
import { makeRegistry, versionInput, type TestRegistry } from './helpers.js';

const ALLOWED: ReadonlyArray<readonly [Stage, Stage]> = [
  ['dev', 'staging'], ['dev', 'production'], ['dev', 'archived'],
  ['staging', 'production'], ['staging', 'dev'], ['staging', 'archived'],
  ['production', 'archived'],
  ['archived', 'staging'],
];
const isAllowed = (from: Stage, to: Stage) => ALLOWED.some(([f, t]) => f === from && t === to);
const ALL_PAIRS = STAGES.flatMap((from) => STAGES.map((to) => [from, to] as const));

describe('transition table', () => {
  it('is exactly the DESIGN lifecycle', () => {
    for (const [from, to] of ALL_PAIRS) {
      expect(isTransitionAllowed(from, to), `${from} → ${to}`).toBe(isAllowed(from, to));
      expect(explainTransition(from, to) === null, `${from} → ${to}`).toBe(isAllowed(from, to));
    }
    expect(Object.values(PROMOTE_TRANSITIONS).flat()).toHaveLength(ALLOWED.length);
  });

  it('sends archived → production to rollback, and only rollback allows it', () => {
    expect(explainTransition('archived', 'production')).toBe('use rollback: archived → production is only allowed by a rollback');
    expect(isTransitionAllowed('archived', 'production', 'rollback')).toBe(true);
    expect(isTransitionAllowed('staging', 'production', 'rollback')).toBe(false);
    expect(explainTransition('staging', 'production', 'rollback')).toMatch(/only moves an archived version/);
  });

  it('explains other refusals with what is possible instead', () => {
    expect(explainTransition('production', 'staging')).toMatch(/can only be archived/);
    expect(explainTransition('archived', 'dev')).toBe('archived → dev is not allowed: from archived a version can go to staging');
    expect(explainTransition('dev', 'dev')).toBe('it is already dev');
  });
});

describe('Registry.promote follows the table for every pair of stages', () => {
  let t: TestRegistry;
  afterEach(() => t.cleanup());

  /** Registers `m` v1 and walks it to `stage` by allowed moves. */
  function versionIn(stage: Stage): void {
    const r = t.registry;
    r.registerVersion(versionInput('m', { stage: stage === 'staging' ? 'staging' : 'dev' }));
    if (stage === 'production' || stage === 'archived') r.promote('m', 'v1', 'production');
    if (stage === 'archived') r.promote('m', 'v1', 'archived');
    expect(r.getVersion('m', 'v1')?.stage).toBe(stage);
  }

  for (const [from, to] of ALL_PAIRS) {
    it(`${from} → ${to}: ${isAllowed(from, to) ? 'allowed' : 'refused'}`, () => {
      t = makeRegistry();
      versionIn(from);
      const before = t.registry.listTransitions('m');
      if (isAllowed(from, to)) {
        const { version } = t.registry.promote('m', 'v1', to, { actor: 'test', reason: 'table' });
        expect(version.stage).toBe(to);
        expect(t.registry.listTransitions('m').at(-1)).toMatchObject({ version: 'v1', from_stage: from, to_stage: to, actor: 'test', reason: 'table' });
      } else {
        let err: unknown;
        try {
          t.registry.promote('m', 'v1', to);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(FramewormError);
        expect((err as FramewormError).code).toBe('E_CONFLICT');
        if (from === 'archived' && to === 'production') expect((err as Error).message).toMatch(/use rollback/);
        expect(t.registry.getVersion('m', 'v1')?.stage).toBe(from);
        expect(t.registry.listTransitions('m')).toEqual(before);
      }
    });
  }
});
