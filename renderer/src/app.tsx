/**
 * The window: header (connection state, settings, theme), models sidebar, the selected model, the
 * import view or the settings, the task list and the toasts; an engine banner while Docker does
 * not answer. A file dropped anywhere on the window starts an import; dragover and
 * drop are always cancelled so a stray drop never navigates the window to file://.
 */
import { useEffect, useState, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { ConnectionState } from './bridge/client-types';
import { EngineBanner } from './components/engine-banner';
import { ImportPanel } from './components/import-panel';
import { ModelView } from './components/model-view';
import { ModelsSidebar } from './components/models-sidebar';
import { SettingsPanel } from './components/settings-panel';
import { TasksList } from './components/tasks-list';
import { Toasts } from './components/toasts';
import { useStores } from './stores/app-stores';

function useConnection(): ConnectionState {
  const { client } = useStores();
  const [state, setState] = useState<ConnectionState>('connecting');
  useEffect(() => client.onConnection(setState), [client]);
  return state;
}

export function App(): ReactNode {
  const { client, deployments, importer, ui } = useStores();
  const theme = useStore(ui, (s) => s.theme);
  const view = useStore(ui, (s) => s.view);
  const selected = useStore(deployments, (s) => s.selected);
  const loaded = useStore(deployments, (s) => s.loaded);
  const error = useStore(deployments, (s) => s.error);
  const connection = useConnection();

  useEffect(() => {
    document.documentElement.dataset['theme'] = theme;
  }, [theme]);

  // The shell asks to show a model (a notification or tray click): select it and show it.
  useEffect(
    () =>
      client.onNavigate?.(({ model }) => {
        deployments.getState().select(model);
        ui.getState().setView('model');
        void deployments.getState().refreshStatus(model);
      }),
    [client, deployments, ui],
  );

  useEffect(() => {
    const over = (e: DragEvent): void => {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    };
    const drop = (e: DragEvent): void => {
      e.preventDefault();
      const file = e.dataTransfer?.files[0];
      if (!file) return;
      ui.getState().setView('import');
      void importer.getState().chooseFile(file);
    };
    window.addEventListener('dragover', over);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('drop', drop);
    };
  }, [importer, ui]);

  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="header">
        <span className="brand">Frameworm Deploy</span>
        {connection !== 'open' ? (
          <span className="badge warn" role="status">
            {connection === 'connecting' ? 'connecting…' : 'disconnected — reconnecting'}
          </span>
        ) : null}
        <span className="grow" />
        <button type="button" aria-pressed={view === 'settings'} onClick={() => ui.getState().setView(view === 'settings' ? 'model' : 'settings')}>
          Settings
        </button>
        <button type="button" onClick={() => ui.getState().toggleTheme()} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}>
          {theme === 'dark' ? 'Light' : 'Dark'} theme
        </button>
      </header>
      <ModelsSidebar />
      <main id="main" className="main" tabIndex={-1}>
        <EngineBanner />
        {error ? (
          <p role="alert" className="error">
            {error}
          </p>
        ) : null}
        {view === 'settings' ? <SettingsPanel /> : view === 'import' ? <ImportPanel /> : selected ? <ModelView key={selected} name={selected} /> : loaded ? <ImportPanel /> : <p className="muted">Loading…</p>}
        <TasksList />
      </main>
      <Toasts />
    </div>
  );
}
