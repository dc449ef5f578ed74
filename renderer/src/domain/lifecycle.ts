/**
 * Which lifecycle buttons a version gets, and what pressing one does, in words.
 *
 * The chain is dev → staging → production → archived; archived → production is only a rollback
 * (DESIGN §6). The registry enforces the same rule; the GUI only offers moves it will accept, and
 * states the effect before it is made.
 */
import type { DeploymentStatus, StageName, VersionView } from '../../../preload/contract';

export type LifecycleAction = 'promote-staging' | 'promote-production' | 'archive' | 'rollback';

export const LIFECYCLE_ACTIONS: readonly LifecycleAction[] = ['promote-staging', 'promote-production', 'archive', 'rollback'];

/** Button labels. */
export const ACTION_LABELS: Readonly<Record<LifecycleAction, string>> = {
  'promote-staging': 'Promote to staging',
  'promote-production': 'Promote to production',
  archive: 'Archive',
  rollback: 'Roll back to this',
};

function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}

/** True when `action` is a legal move for a version in `stage`. */
export function isActionAllowed(action: LifecycleAction, stage: StageName): boolean {
  switch (action) {
    case 'promote-staging':
      return stage === 'dev';
    case 'promote-production':
      return stage === 'staging';
    case 'archive':
      return stage !== 'archived';
    case 'rollback':
      return stage === 'archived';
    default:
      return assertNever(action);
  }
}

/** The stage a version ends in. */
export function targetStage(action: LifecycleAction): StageName {
  switch (action) {
    case 'promote-staging':
      return 'staging';
    case 'promote-production':
    case 'rollback':
      return 'production';
    case 'archive':
      return 'archived';
    default:
      return assertNever(action);
  }
}

/**
 * The effect of `action` on `version`, as one sentence for the confirmation dialog, e.g.
 * "v3 → production, v2 → archived, endpoint unchanged".
 */
export function describeEffect(action: LifecycleAction, version: VersionView, status: DeploymentStatus): string {
  const v = version.version;
  const prod = status.production;
  switch (action) {
    case 'promote-staging':
      return `${v} → staging; production unchanged${prod ? ` (${prod})` : ''}`;
    case 'promote-production':
    case 'rollback': {
      const verb = action === 'rollback' ? 'rolls back: ' : '';
      if (prod && prod !== v) {
        const endpoint = status.endpoint ? `endpoint unchanged (${status.endpoint})` : 'endpoint unchanged';
        return `${verb}${v} → production, ${prod} → archived, ${endpoint}`;
      }
      return `${verb}${v} → production; ${status.endpoint ? `served at ${status.endpoint}` : 'the endpoint is assigned when it starts'}`;
    }
    case 'archive':
      if (version.stage === 'production') return `${v} → archived; ${status.name} is left without a production version`;
      return `${v} → archived; production unchanged${prod ? ` (${prod})` : ''}`;
    default:
      return assertNever(action);
  }
}
