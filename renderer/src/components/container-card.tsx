/**
 * The docker target's container: state and health from the daemon, image, port and exit, and
 * the tail of its log (`deploy.logs`), refreshed on demand.
 */
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import type { ContainerStateView } from '../../../preload/contract';
import { describeError } from '../bridge/client-types';
import { formatTime, shortHash } from '../domain/format';
import { useStores } from '../stores/app-stores';

const TAIL = 100;

function healthClass(health: string): string {
  return health === 'healthy' ? 'verdict-pass' : health === 'unhealthy' ? 'verdict-breach' : 'verdict-inconclusive';
}

export function ContainerCard({ name, container }: { readonly name: string; readonly container: ContainerStateView | null }): ReactNode {
  const { client } = useStores();
  const [lines, setLines] = useState<readonly string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const id = container?.id ?? null;

  const refresh = useCallback(async () => {
    setLoading(true);
    try {
      const r = await client.invoke('deploy.logs', { name, tail: TAIL });
      setLines(r.lines);
      setError(null);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setLoading(false);
    }
  }, [client, name]);

  useEffect(() => {
    if (id) void refresh();
  }, [id, refresh]);

  return (
    <section className="card" aria-labelledby="container-title">
      <h2 id="container-title">Container</h2>
      {!container ? (
        <p className="muted">No container is running for {name}.</p>
      ) : (
        <>
          <p>
            <code>{container.name}</code> <span className={`badge ${container.running ? 'verdict-pass' : 'verdict-breach'}`}>{container.state}</span>{' '}
            <span className={`badge ${healthClass(container.health)}`}>health: {container.health}</span>
            {container.oom_killed ? <span className="badge verdict-breach"> killed: out of memory</span> : null}
          </p>
          <p className="muted small-text">
            image {container.image} ({shortHash(container.image_id)}) · port 127.0.0.1:{container.host_port} · started {formatTime(container.started_at)}
            {container.exit_code !== null && !container.running ? ` · exit code ${container.exit_code}` : ''}
            {container.error ? ` · ${container.error}` : ''}
          </p>
          <div className="row between">
            <h3>Log (last {TAIL} lines)</h3>
            <button type="button" className="small" disabled={loading} onClick={() => void refresh()}>
              {loading ? 'Loading…' : 'Refresh log'}
            </button>
          </div>
          {error ? (
            <p role="alert" className="error">
              {error}
            </p>
          ) : null}
          <pre className="log" role="log" aria-label={`Container log of ${name}`} tabIndex={0}>
            {lines === null ? 'loading…' : lines.length === 0 ? '(empty)' : lines.join('\n')}
          </pre>
        </>
      )}
    </section>
  );
}
