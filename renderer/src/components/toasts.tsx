/**
 * Toasts for rollbacks, drift and failed alerts, bottom right: each names the model, says what
 * happened in a sentence, opens the model, and can be dismissed. Critical ones are announced as
 * alerts and stay until dismissed; the others leave by themselves.
 */
import type { ReactNode } from 'react';
import { useStore } from 'zustand';
import { useStores } from '../stores/app-stores';

export function Toasts(): ReactNode {
  const { toasts, deployments, ui } = useStores();
  const list = useStore(toasts, (s) => s.toasts);
  return (
    <section className="toasts" aria-label="Notifications">
      {list.map((t) => (
        <div key={t.key} className={`toast toast-${t.level}`} role={t.level === 'critical' ? 'alert' : 'status'}>
          <strong className="toast-title">{t.title}</strong>
          <p className="toast-text">{t.text}</p>
          <div className="row end">
            <button
              type="button"
              className="small"
              onClick={() => {
                deployments.getState().select(t.model);
                ui.getState().setView('model');
                toasts.getState().dismiss(t.key);
              }}
            >
              Open {t.model}
            </button>
            <button type="button" className="small" aria-label={`Dismiss: ${t.title}`} onClick={() => toasts.getState().dismiss(t.key)}>
              Dismiss
            </button>
          </div>
        </div>
      ))}
    </section>
  );
}
