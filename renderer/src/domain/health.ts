/**
 * One health light per deployment, from what the status says: the same states as the tray icon
 * (healthy / degraded / down), plus idle for a model with no production version.
 */
import type { DeploymentStatus, DeploymentSummary } from '../../../preload/contract';

export type Health = 'healthy' | 'degraded' | 'down' | 'idle';

export const HEALTH_LABELS: Readonly<Record<Health, string>> = {
  healthy: 'healthy',
  degraded: 'degraded',
  down: 'down',
  idle: 'no production version',
};

/** The light for a deployment; `status` refines the summary when it has been loaded. */
export function healthOf(summary: DeploymentSummary, status?: DeploymentStatus | null): Health {
  if (!summary.production) return 'idle';
  if (!summary.serving) return 'down';
  if (!status) return 'healthy';
  const c = status.container;
  if (c && (!c.running || c.health === 'unhealthy')) return 'down';
  const w = status.watcher;
  if (w && w.streak > 0) return 'degraded';
  const last = w?.last_checks[w.last_checks.length - 1];
  if (last && (last['verdict'] === 'breach' || last['verdict'] === 'error')) return 'degraded';
  if (status.drill) return 'degraded';
  if (c && c.health === 'starting') return 'degraded';
  return 'healthy';
}
