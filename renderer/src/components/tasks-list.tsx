/** Running and recent tasks (deploys, promotions, rollbacks), from any client, with Cancel. */
import type { ReactNode } from 'react';
import { useStore } from 'zustand';
import { useStores } from '../stores/app-stores';
import { orderedTasks } from '../stores/tasks-store';

export function TasksList(): ReactNode {
  const { tasks } = useStores();
  const all = useStore(tasks, (s) => s.tasks);
  const list = orderedTasks(all).reverse().slice(0, 5);
  if (list.length === 0) return null;
  return (
    <section className="tasks" aria-label="Tasks">
      <ul>
        {list.map((t) => (
          <li key={t.id} className={`task task-${t.state}`}>
            <span className="badge">{t.state}</span> {t.channel}
            {t.name ? ` ${t.name}` : ''} <span className="muted">{t.step ? `${t.step}: ${t.message ?? ''}` : ''}</span>
            {t.state === 'running' ? <progress max={1} value={t.value} aria-label={`${t.channel} ${t.name ?? ''} progress`} /> : null}
            {t.state === 'failed' && t.error ? <span className="error"> {t.error.message}</span> : null}
            {t.state === 'running' ? (
              <button type="button" className="small" disabled={t.cancel_requested} onClick={() => void tasks.getState().cancel(t.id)} aria-label={`Cancel ${t.channel} ${t.name ?? ''}`}>
                {t.cancel_requested ? 'Cancelling…' : 'Cancel'}
              </button>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
