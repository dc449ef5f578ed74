/**
 * The models sidebar: one entry per deployment with its health light. Each entry selects only its
 * own light (a string), so a push about one deployment re-renders that entry alone, and only
 * when its light changes — not the whole list on every watcher check of every deployment.
 */
import { memo, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { DeploymentSummary } from '../../../preload/contract';
import { healthOf } from '../domain/health';
import { useStores } from '../stores/app-stores';
import { HealthLight } from './health-light';

const ModelEntry = memo(function ModelEntry({ summary, current }: { readonly summary: DeploymentSummary; readonly current: boolean }): ReactNode {
  const { deployments, ui } = useStores();
  const health = useStore(deployments, (s) => healthOf(summary, s.statuses[summary.name]));
  return (
    <li>
      <button
        type="button"
        className={current ? 'model-entry current' : 'model-entry'}
        aria-current={current ? 'page' : undefined}
        onClick={() => {
          deployments.getState().select(summary.name);
          ui.getState().setView('model');
        }}
      >
        <HealthLight health={health} />
        <span className="model-name">{summary.name}</span>
        <span className="muted small-text">{summary.production ?? '—'}</span>
      </button>
    </li>
  );
});

export function ModelsSidebar(): ReactNode {
  const { deployments, ui } = useStores();
  const list = useStore(deployments, (s) => s.list);
  const selected = useStore(deployments, (s) => s.selected);
  const loaded = useStore(deployments, (s) => s.loaded);
  const view = useStore(ui, (s) => s.view);

  return (
    <nav className="sidebar" aria-label="Models">
      <h2 className="sidebar-title">Models</h2>
      {loaded && list.length === 0 ? <p className="muted">No models yet. Drop a checkpoint on the window or use Import.</p> : null}
      <ul>
        {list.map((d) => (
          <ModelEntry key={d.name} summary={d} current={view === 'model' && selected === d.name} />
        ))}
      </ul>
      <button type="button" className={view === 'import' ? 'current' : ''} aria-current={view === 'import' ? 'page' : undefined} onClick={() => ui.getState().setView('import')}>
        Import a checkpoint…
      </button>
    </nav>
  );
}
