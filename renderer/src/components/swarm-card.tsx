/**
 * The swarm target's service, as `deploy status` reports it: the version it runs, running vs
 * asked-for replicas, Swarm's update state, and one row per task (slot, state and the state it is
 * driven to, container health, version, host port, error). Tasks change without a control-plane
 * event (Swarm replaces a killed one by itself), so the card re-reads the status while shown.
 */
import { useEffect, useState, type ReactNode } from 'react';
import type { SwarmStateView, SwarmTaskView } from '../../../preload/contract';
import { formatTime, shortHash } from '../domain/format';
import { useStores } from '../stores/app-stores';

/** Swarm replaces tasks on its own (no control-plane event says so): the card re-reads the status this often. */
export const SWARM_REFRESH_MS = 5_000;

function stateClass(t: SwarmTaskView): string {
  if (t.state === 'running' && t.desired_state === 'running') return t.health === 'unhealthy' ? 'verdict-breach' : 'verdict-pass';
  if (t.state === 'failed' || t.state === 'rejected') return 'verdict-breach';
  return 'verdict-inconclusive';
}

/** An update Swarm rolled back or paused is a problem to see; one in progress is news; completed is quiet. */
function updateClass(state: string): string {
  if (state.startsWith('rollback') || state === 'paused') return 'verdict-breach';
  return state === 'completed' ? 'verdict-pass' : 'verdict-inconclusive';
}

export function SwarmCard({ name, swarm }: { readonly name: string; readonly swarm: SwarmStateView | null | undefined }): ReactNode {
  const { deployments } = useStores();
  const [loading, setLoading] = useState(false);
  const refresh = async (): Promise<void> => {
    setLoading(true);
    try {
      await deployments.getState().refreshStatus(name);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    const timer = setInterval(() => void deployments.getState().refreshStatus(name), SWARM_REFRESH_MS);
    return () => clearInterval(timer);
  }, [deployments, name]);

  return (
    <section className="card" aria-labelledby="swarm-title">
      <div className="row between">
        <h2 id="swarm-title">Swarm service</h2>
        <button type="button" className="small" disabled={loading} onClick={() => void refresh()}>
          {loading ? 'Refreshing…' : 'Refresh tasks'}
        </button>
      </div>
      {!swarm ? (
        <p className="muted">No swarm service is running for {name}.</p>
      ) : (
        <>
          <p>
            <code>{swarm.service}</code>{' '}
            <span className={`badge ${swarm.running >= swarm.replicas && swarm.replicas > 0 ? 'verdict-pass' : 'verdict-breach'}`}>
              {swarm.running}/{swarm.replicas} replica(s) running
            </span>{' '}
            {swarm.update ? (
              <span className={`badge ${updateClass(swarm.update.state)}`} title={swarm.update.message || undefined}>
                update: {swarm.update.state}
              </span>
            ) : null}
          </p>
          <p className="muted small-text">
            {swarm.version ?? 'unknown version'} · image {shortHash(swarm.image_id)}
            {swarm.update_order ? ` · update order ${swarm.update_order}` : ''}
            {swarm.update?.completed_at ? ` · last update ${formatTime(swarm.update.completed_at)}` : ''}
            {swarm.update?.message ? ` · ${swarm.update.message}` : ''}
          </p>
          {swarm.error ? (
            <p role="alert" className="error">
              {swarm.error}
            </p>
          ) : null}
          {swarm.tasks.length === 0 ? (
            <p className="muted">No task is running or starting.</p>
          ) : (
            <table className="compact">
              <caption>Tasks</caption>
              <thead>
                <tr>
                  <th scope="col">Slot</th>
                  <th scope="col">State</th>
                  <th scope="col">Health</th>
                  <th scope="col">Version</th>
                  <th scope="col">Port</th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {swarm.tasks.map((t) => (
                  <tr key={t.id}>
                    <th scope="row">{t.slot}</th>
                    <td>
                      <span className={`badge ${stateClass(t)}`}>{t.state}</span>
                      {t.desired_state !== t.state ? <span className="muted"> → {t.desired_state}</span> : null}
                    </td>
                    <td>{t.health}</td>
                    <td>{t.version ?? '?'}</td>
                    <td>
                      <code>127.0.0.1:{t.port}</code>
                    </td>
                    <td>{t.error ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
