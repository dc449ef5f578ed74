/** A banner while the Docker engine does not answer: docker-target deploys cannot build or run. */
import type { ReactNode } from 'react';
import { useStore } from 'zustand';
import { useStores } from '../stores/app-stores';

export function EngineBanner(): ReactNode {
  const { engine } = useStores();
  const view = useStore(engine, (s) => s.engine);
  if (!view || view.reachable) return null;
  return (
    <div className="banner warn engine-banner row" role="status">
      <span className="grow">
        <strong>Docker engine unreachable</strong> ({view.socket}): the docker target cannot build or run containers; embedded deployments are not affected.
        {view.error ? <span className="muted"> {view.error}</span> : null}
      </span>
      <button type="button" className="small" onClick={() => void engine.getState().refresh()}>
        Check Docker again
      </button>
    </div>
  );
}
