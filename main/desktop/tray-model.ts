/**
 * What the tray shows, as plain data: one health state for the whole workspace (the icon), a
 * line per deployment, and the menu. The Electron shell only turns this model into a `Tray` and
 * a `Menu`; every decision (what counts as degraded, when "Roll back" is offered) is made here,
 * where it is tested without Electron.
 */
import type { DeploymentStatus } from '../../preload/contract.js';
import type { DesktopAction } from './desktop-actions.js';

/** The three tray states, each with its own icon. */
export type TrayHealth = 'healthy' | 'degraded' | 'down';

/** A deployment's state: a tray state, or idle when nothing of it is in production. */
export type DeploymentHealth = TrayHealth | 'idle';

/** Everything the tray needs to know of one deployment. */
export interface TrayDeployment {
  readonly status: DeploymentStatus;
  /** The version a rollback would bring back (the registry's rollback target), or null. */
  readonly rollback_target: string | null;
  /** Its production version did not come back when this host started, and it still does not serve. */
  readonly restore_failed: boolean;
  /** Why its status could not be read (then `status` holds only what the registry knows). */
  readonly unreadable?: string | null;
}

/** The tray's input: the hosted workspace and its deployments. */
export interface TrayInputs {
  readonly workspace: string;
  readonly deployments: readonly TrayDeployment[];
}

/** One deployment's state and the reason for it, in words. */
export interface HealthVerdict {
  readonly health: DeploymentHealth;
  readonly reason: string;
}

/**
 * The deployment's state. Down: production exists but is not served (restore failed, endpoint
 * stopped) or its container is gone or unhealthy. Degraded: serving, but the watcher counts
 * breaches, the inputs drift, a check failed, a fault drill runs or the container is still
 * starting. The first matching reason wins, most severe first.
 */
export function deploymentHealth(d: TrayDeployment): HealthVerdict {
  const s = d.status;
  if (!s.production) return { health: 'idle', reason: 'no production version' };
  if (d.unreadable) return { health: 'down', reason: `status unavailable: ${d.unreadable}` };
  if (d.restore_failed && !s.serving) return { health: 'down', reason: `${s.production} failed to restore` };
  if (!s.serving) return { health: 'down', reason: `${s.production} is not serving` };
  const c = s.container;
  if (c && (!c.running || c.state === 'missing')) return { health: 'down', reason: `container lost (${c.state})` };
  if (c && c.health === 'unhealthy') return { health: 'down', reason: 'container unhealthy' };
  const w = s.watcher;
  if (w && w.streak > 0) return { health: 'degraded', reason: `${w.streak} of ${w.required} checks in breach` };
  if (s.drift?.drifted) return { health: 'degraded', reason: `${s.drift.severity} drift` };
  const last = w?.last_checks[w.last_checks.length - 1];
  // A breach verdict with streak 0 cannot happen; an error verdict means the check itself failed.
  if (last && last['verdict'] === 'error') return { health: 'degraded', reason: 'the last check failed' };
  if (s.drill) return { health: 'degraded', reason: 'fault drill running' };
  if (c && c.health === 'starting') return { health: 'degraded', reason: 'container starting' };
  return { health: 'healthy', reason: 'healthy' };
}

const RANK: Readonly<Record<DeploymentHealth, number>> = { idle: 0, healthy: 1, degraded: 2, down: 3 };

/** The workspace's state: its worst deployment (idle ones do not count; none at all is healthy). */
export function overallHealth(deployments: readonly TrayDeployment[]): TrayHealth {
  let worst: TrayHealth = 'healthy';
  for (const d of deployments) {
    const h = deploymentHealth(d).health;
    if (h !== 'idle' && RANK[h] > RANK[worst]) worst = h;
  }
  return worst;
}

/** One entry of the tray menu. */
export type TrayMenuItem =
  | { readonly kind: 'action'; readonly label: string; readonly action: DesktopAction; readonly enabled: boolean }
  | { readonly kind: 'label'; readonly label: string }
  | { readonly kind: 'separator' }
  | { readonly kind: 'submenu'; readonly label: string; readonly items: readonly TrayMenuItem[] };

/** The whole tray: icon state, tooltip and menu. */
export interface TrayModel {
  readonly health: TrayHealth;
  readonly tooltip: string;
  readonly items: readonly TrayMenuItem[];
}

/** Marks in front of a deployment's line (menus show no colours on every platform). */
const MARK: Readonly<Record<DeploymentHealth, string>> = { healthy: '●', degraded: '▲', down: '✖', idle: '○' };

/** A deployment's status line, e.g. "▲ mlp v2 — 2 of 3 checks in breach". */
export function statusLine(d: TrayDeployment): string {
  const { health, reason } = deploymentHealth(d);
  const version = d.status.serving_version ?? d.status.production;
  return `${MARK[health]} ${d.status.name}${version ? ` ${version}` : ''} — ${reason}`;
}

/**
 * The tray: open the window, one line per deployment (click opens it), "Roll back <name>" per
 * deployment (enabled only where there is production and a version to roll back to, and naming
 * the move), open another workspace, and the two ways to quit.
 */
export function trayModel(inputs: TrayInputs): TrayModel {
  const health = overallHealth(inputs.deployments);
  const troubled = inputs.deployments.filter((d) => deploymentHealth(d).health === health && health !== 'healthy');
  const tooltip = troubled.length === 0
    ? `Frameworm Deploy — ${health} (${inputs.deployments.length} deployment${inputs.deployments.length === 1 ? '' : 's'})`
    : `Frameworm Deploy — ${health}: ${troubled.map((d) => `${d.status.name} ${deploymentHealth(d).reason}`).join('; ')}`;

  const lines: TrayMenuItem[] = inputs.deployments.length === 0
    ? [{ kind: 'label', label: 'No deployments yet' }]
    : inputs.deployments.map((d) => ({ kind: 'action', label: statusLine(d), action: { type: 'open_model', name: d.status.name }, enabled: true }));

  const rollbacks: TrayMenuItem[] = inputs.deployments.map((d) => {
    const from = d.status.production;
    const to = d.rollback_target;
    const enabled = from !== null && to !== null;
    return { kind: 'action', label: enabled ? `Roll back ${d.status.name} (${from} → ${to})` : `Roll back ${d.status.name}`, action: { type: 'rollback', name: d.status.name }, enabled };
  });

  const items: TrayMenuItem[] = [
    { kind: 'action', label: 'Open Frameworm Deploy', action: { type: 'open' }, enabled: true },
    { kind: 'label', label: `Workspace: ${inputs.workspace}` },
    { kind: 'separator' },
    ...lines,
    { kind: 'separator' },
    ...(rollbacks.length > 0 ? [{ kind: 'submenu', label: 'Roll back', items: rollbacks } as const] : []),
    { kind: 'action', label: 'Open workspace…', action: { type: 'open_workspace' }, enabled: true },
    { kind: 'separator' },
    { kind: 'action', label: 'Quit, keep serving (hand over to the agent)', action: { type: 'quit', mode: 'hand_over' }, enabled: true },
    { kind: 'action', label: 'Quit and stop everything', action: { type: 'quit', mode: 'stop_everything' }, enabled: true },
  ];
  return { health, tooltip, items };
}

/** Tray icon files under assets/, per state (Electron picks the @2x file on dense screens). */
export const TRAY_ICON_FILES: Readonly<Record<TrayHealth, string>> = {
  healthy: 'tray-healthy.png',
  degraded: 'tray-degraded.png',
  down: 'tray-down.png',
};

/** Pixel sizes of the tray icons: the base file and its @2x companion. */
export const TRAY_ICON_SIZES = { base: 16, retina: 32 } as const;

/** The confirmation a tray rollback asks for, stating its effect; null when there is nothing to roll back to. */
export function rollbackPrompt(inputs: TrayInputs, name: string): { readonly message: string; readonly detail: string } | null {
  const d = inputs.deployments.find((x) => x.status.name === name);
  if (!d || d.status.production === null || d.rollback_target === null) return null;
  return {
    message: `Roll back ${name} to ${d.rollback_target}?`,
    detail: `${d.rollback_target} → production, ${d.status.production} → archived, endpoint unchanged.`,
  };
}
