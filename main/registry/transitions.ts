/**
 * The stage lifecycle (DESIGN §6) as data: which moves `promote` may make, which only a
 * rollback may make, and a plain-language reason for every refusal.
 */
import type { Stage } from '../common/types.js';

/** How a version is being moved: a user/API promotion, or the rollback path. */
export type TransitionVia = 'promote' | 'rollback';

/** Stage moves allowed through `promote`. */
export const PROMOTE_TRANSITIONS: Readonly<Record<Stage, readonly Stage[]>> = {
  dev: ['staging', 'production', 'archived'],
  staging: ['production', 'dev', 'archived'],
  production: ['archived'],
  archived: ['staging'],
};

/** Extra moves only a rollback may make: archived back to production is the rollback. */
export const ROLLBACK_TRANSITIONS: Readonly<Record<Stage, readonly Stage[]>> = {
  dev: [],
  staging: [],
  production: ['archived'],
  archived: ['production'],
};

/** Stages a new version may be registered in (production is reached only by promotion). */
export const REGISTER_STAGES: readonly Stage[] = ['dev', 'staging'];

/** True when `from → to` is allowed for `via`. */
export function isTransitionAllowed(from: Stage, to: Stage, via: TransitionVia = 'promote'): boolean {
  const table = via === 'promote' ? PROMOTE_TRANSITIONS : ROLLBACK_TRANSITIONS;
  return table[from].includes(to);
}

/**
 * Why `from → to` is refused for `via`, or null when it is allowed. The text is meant to be
 * shown to users as is, so it says what to do instead.
 */
export function explainTransition(from: Stage, to: Stage, via: TransitionVia = 'promote'): string | null {
  if (isTransitionAllowed(from, to, via)) return null;
  if (from === to) return `it is already ${to}`;
  if (via === 'promote' && from === 'archived' && to === 'production') {
    return 'use rollback: archived → production is only allowed by a rollback';
  }
  if (via === 'rollback') {
    return `a rollback only moves an archived version back to production (this one is ${from})`;
  }
  if (from === 'production') {
    return `production → ${to} is not allowed: a production version can only be archived; promote or roll back another version to replace it`;
  }
  const options = PROMOTE_TRANSITIONS[from].join(', ');
  return `${from} → ${to} is not allowed: from ${from} a version can go to ${options}`;
}
