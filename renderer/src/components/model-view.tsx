/** Everything about the selected model: overview, charts, watcher, container or swarm service, try-it, drift, versions, events. */
import { useEffect, type ReactNode } from 'react';
import { useStore } from 'zustand';
import { thresholdFromWatcher } from '../domain/chart-series';
import { useStores } from '../stores/app-stores';
import { ContainerCard } from './container-card';
import { DriftPanel } from './drift-panel';
import { EventTimeline } from './event-timeline';
import { LineageDrawer } from './lineage-drawer';
import { MetricsCharts } from './metrics-charts';
import { OverviewCards } from './overview-cards';
import { SwarmCard } from './swarm-card';
import { TryItPanel } from './try-it-panel';
import { VersionsTable } from './versions-table';
import { WatcherCard } from './watcher-card';

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
