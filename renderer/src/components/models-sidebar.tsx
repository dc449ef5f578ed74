/** The models sidebar: one entry per deployment with its health light. */
import type { ReactNode } from 'react';
import { useStore } from 'zustand';
import { healthOf } from '../domain/health';
import { useStores } from '../stores/app-stores';
import { HealthLight } from './health-light';

export function ModelsSidebar(): ReactNode {
  const { deployments, ui } = useStores();
  const list = useStore(deployments, (s) => s.list);
  const statuses = useStore(deployments, (s) => s.statuses);
  const selected = useStore(deployments, (s) => s.selected);
  const loaded = useStore(deployments, (s) => s.loaded);
  const view = useStore(ui, (s) => s.view);

  return (
    <nav className="sidebar" aria-label="Models">
      <h2 className="sidebar-title">Models</h2>
      {loaded && list.length === 0 ? <p className="muted">No models yet. Drop a checkpoint on the window or use Import.</p> : null}
      <ul>
        {list.map((d) => {
          const current = view === 'model' && selected === d.name;
          return (
            <li key={d.name}>
              <button
                type="button"
                className={current ? 'model-entry current' : 'model-entry'}
                aria-current={current ? 'page' : undefined}
                onClick={() => {
                  deployments.getState().select(d.name);
                  ui.getState().setView('model');
                }}
              >
                <HealthLight health={healthOf(d, statuses[d.name])} />
                <span className="model-name">{d.name}</span>
                <span className="muted small-text">{d.production ?? '—'}</span>
              </button>
            </li>
          );
        })}
      </ul>
      <button type="button" className={view === 'import' ? 'current' : ''} aria-current={view === 'import' ? 'page' : undefined} onClick={() => ui.getState().setView('import')}>
        Import a checkpoint…
      </button>
    </nav>
  );
}
