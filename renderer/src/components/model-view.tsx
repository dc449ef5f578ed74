/**
 * Everything about the selected model: overview, charts, watcher, container or swarm service,
 * try-it, drift, versions, events.
 *
 * The status of the shown model changes about once a second (each watcher check replaces its
 * `watcher`), so every panel is memoised on what it reads: a check re-renders the watcher card,
 * the overview and the charts' threshold (when it moved) — not the versions table, the drift
 * panel, try-it or the timeline.
 */
import { memo, useEffect, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { DeploymentStatus } from '../../../preload/contract';
import { thresholdFromWatcher } from '../domain/chart-series';
import { useStores } from '../stores/app-stores';
import { ContainerCard as ContainerCardView } from './container-card';
import { DriftPanel as DriftPanelView } from './drift-panel';
import { EventTimeline as EventTimelineView } from './event-timeline';
import { LineageDrawer } from './lineage-drawer';
import { MetricsCharts as MetricsChartsView } from './metrics-charts';
import { OverviewCards as OverviewCardsView } from './overview-cards';
import { SwarmCard as SwarmCardView } from './swarm-card';
import { TryItPanel as TryItPanelView } from './try-it-panel';
import { VersionsTable as VersionsTableView } from './versions-table';
import { WatcherCard as WatcherCardView } from './watcher-card';

/** Whether two statuses differ at most in the keys given (each other key the same object or value). */
function sameExcept(a: DeploymentStatus, b: DeploymentStatus, ignored: ReadonlySet<string>): boolean {
  if (a === b) return true;
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const k of keys) if (!ignored.has(k) && ra[k] !== rb[k]) return false;
  return true;
}

/** What a watcher check or a metrics refresh changes; the versions table reads none of it. */
const WATCHER_KEYS: ReadonlySet<string> = new Set(['watcher', 'metrics']);

const OverviewCards = memo(OverviewCardsView);
const MetricsCharts = memo(MetricsChartsView);
const WatcherCard = memo(WatcherCardView);
const ContainerCard = memo(ContainerCardView);
const SwarmCard = memo(SwarmCardView);
const TryItPanel = memo(TryItPanelView);
const DriftPanel = memo(DriftPanelView);
const EventTimeline = memo(EventTimelineView);
const VersionsTable = memo(VersionsTableView, (prev, next) => sameExcept(prev.status, next.status, WATCHER_KEYS));

export function ModelView({ name }: { readonly name: string }): ReactNode {
  const { deployments, events, ui } = useStores();
  const status = useStore(deployments, (s) => s.statuses[name]);
  const drawerVersion = useStore(ui, (s) => s.drawerVersion);

  useEffect(() => {
    void events.getState().load(name);
    if (!deployments.getState().statuses[name]) void deployments.getState().refreshStatus(name);
  }, [name, events, deployments]);

  if (!status) return <p className="muted">Loading {name}…</p>;
  const drawer = drawerVersion ? status.versions.find((v) => v.version === drawerVersion) : undefined;
  return (
    <div className="model-view">
      <h1>{name}</h1>
      {status.drill ? (
        <p className="banner warn" role="status">
          Fault drill running on {status.drill.version}
          {status.drill.latency_ms !== null ? ` · +${status.drill.latency_ms} ms` : ''}
          {status.drill.error_rate !== null ? ` · ${Math.round(status.drill.error_rate * 100)} % errors` : ''}
        </p>
      ) : null}
      <OverviewCards status={status} />
      <MetricsCharts name={name} threshold={thresholdFromWatcher(status.watcher)} />
      <WatcherCard watcher={status.watcher} />
      {status.target === 'docker' || status.container ? <ContainerCard name={name} container={status.container} /> : null}
      {status.target === 'swarm' || status.swarm ? <SwarmCard name={name} swarm={status.swarm} /> : null}
      <TryItPanel name={name} version={status.serving ? status.serving_version : null} />
      <DriftPanel name={name} checkedAt={status.drift?.ts ?? null} />
      <VersionsTable status={status} />
      <EventTimeline name={name} />
      {drawer ? <LineageDrawer model={name} version={drawer} onClose={() => ui.getState().openDrawer(null)} /> : null}
    </div>
  );
}
