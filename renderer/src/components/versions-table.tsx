/**
 * The versions of a model: stage badges, target, created time, checkpoint sha, image digest, and
 * the lifecycle buttons — each enabled only where the move is legal for that version's stage.
 */
import { useState, type ReactNode } from 'react';
import { useStores } from '../stores/app-stores';
import type { DeploymentStatus, VersionView } from '../../../preload/contract';
import { formatTime, shortHash } from '../domain/format';
import { ACTION_LABELS, isActionAllowed, LIFECYCLE_ACTIONS } from '../domain/lifecycle';
import { CompareVersions } from './compare-versions';
import { TransitionDialog, type TransitionRequest } from './transition-dialog';

/** The image digest of a version: lineage first (set after a Docker build), then artifacts. */
export function imageDigestOf(v: VersionView): unknown {
  return v.lineage['image_digest'] ?? v.artifacts['image_digest'] ?? null;
}

export function VersionsTable({ status }: { readonly status: DeploymentStatus }): ReactNode {
  const { ui } = useStores();
  const [request, setRequest] = useState<TransitionRequest | null>(null);
  // Up to two versions picked for the side-by-side comparison, in the order they were picked.
  const [picked, setPicked] = useState<readonly string[]>([]);
  const togglePick = (v: string): void => setPicked((p) => (p.includes(v) ? p.filter((x) => x !== v) : [...p, v].slice(-2)));
  // Newest first: the version just deployed is the one acted on most.
  const versions = [...status.versions].sort((a, b) => b.created_at.localeCompare(a.created_at));
  const [compareA, compareB] = picked.map((p) => status.versions.find((v) => v.version === p));

  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      {versions.length === 0 ? <p className="muted">No versions.</p> : null}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">
                <span className="sr-only">Compare</span>
              </th>
              <th scope="col">Version</th>
              <th scope="col">Stage</th>
              <th scope="col">Target</th>
              <th scope="col">Created</th>
              <th scope="col">Checkpoint sha256</th>
              <th scope="col">Image digest</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {versions.map((v) => (
              <tr key={v.version}>
                <td>
                  <input type="checkbox" aria-label={`Compare ${v.version}`} checked={picked.includes(v.version)} onChange={() => togglePick(v.version)} />
                </td>
                <th scope="row">{v.version}</th>
                <td>
                  <span className={`badge stage-${v.stage}`}>{v.stage}</span>
                </td>
                <td>{v.target}</td>
                <td>{formatTime(v.created_at)}</td>
                <td>
                  <code title={String(v.lineage['checkpoint_sha256'] ?? '')}>{shortHash(v.lineage['checkpoint_sha256'])}</code>
                </td>
                <td>
                  <code title={String(imageDigestOf(v) ?? '')}>{shortHash(imageDigestOf(v))}</code>
                </td>
                <td className="actions">
                  {LIFECYCLE_ACTIONS.map((action) => {
                    const allowed = isActionAllowed(action, v.stage);
                    return (
                      <button
                        key={action}
                        type="button"
                        className="small"
                        disabled={!allowed}
                        aria-label={`${ACTION_LABELS[action]}: ${v.version}`}
                        title={allowed ? undefined : `not possible from ${v.stage}`}
                        onClick={() => setRequest({ version: v, action })}
                      >
                        {ACTION_LABELS[action]}
                      </button>
                    );
                  })}
                  <button type="button" className="small" aria-label={`Lineage of ${v.version}`} onClick={() => ui.getState().openDrawer(v.version)}>
                    Lineage
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {compareA && compareB ? <CompareVersions a={compareA} b={compareB} onClose={() => setPicked([])} /> : null}
      {picked.length === 1 ? <p className="muted">Pick a second version to compare.</p> : null}
      {request ? <TransitionDialog status={status} request={request} onClose={() => setRequest(null)} /> : null}
    </section>
  );
}
