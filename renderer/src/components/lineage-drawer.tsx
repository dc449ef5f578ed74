/**
 * The lineage of one version: where it came from (checkpoint, git commit, config snapshot,
 * training metrics) and what was built (artifact hashes, image digest, parity and quantization
 * error when the export measured them). Known fields first, then whatever else the record holds,
 * so a field added by a newer agent still shows.
 */
import { useEffect, useRef, type ReactNode } from 'react';
import type { VersionView } from '../../../preload/contract';
import { formatTime } from '../domain/format';

const KNOWN: readonly [string, string][] = [
  ['checkpoint_sha256', 'Checkpoint sha256'],
  ['source_path', 'Checkpoint file'],
  ['git_commit', 'Git commit'],
  ['dataset_checksum', 'Dataset checksum'],
  ['epoch', 'Epoch'],
  ['training_metrics', 'Training metrics'],
  ['hyper_parameters', 'Hyper-parameters'],
  ['config_snapshot', 'Config snapshot'],
  ['artifact_hashes', 'Artifact hashes'],
  ['image_digest', 'Image digest'],
  ['parity', 'Parity'],
  ['quantization', 'Quantization error'],
];

function Value({ value }: { readonly value: unknown }): ReactNode {
  if (value === null || value === undefined || value === '') return <span className="muted">—</span>;
  if (typeof value === 'object') return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
  return <code className="wrap">{String(value)}</code>;
}

function Fields({ record, known }: { readonly record: Readonly<Record<string, unknown>>; readonly known: readonly [string, string][] }): ReactNode {
  const knownKeys = new Set(known.map(([k]) => k));
  const rest = Object.keys(record).filter((k) => !knownKeys.has(k)).sort();
  return (
    <dl className="fields">
      {known
        .filter(([k]) => k in record)
        .map(([k, label]) => (
          <div key={k}>
            <dt>{label}</dt>
            <dd>
              <Value value={record[k]} />
            </dd>
          </div>
        ))}
      {rest.map((k) => (
        <div key={k}>
          <dt>{k.replace(/_/g, ' ')}</dt>
          <dd>
            <Value value={record[k]} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

export function LineageDrawer({ model, version, onClose }: { readonly model: string; readonly version: VersionView; readonly onClose: () => void }): ReactNode {
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    closeRef.current?.focus();
    return () => opener?.focus();
  }, [version.version]);
  return (
    <aside
      className="drawer"
      role="dialog"
      aria-label={`Lineage of ${model} ${version.version}`}
      onKeyDown={(e) => {
        if (e.key === 'Escape') onClose();
      }}
    >
      <div className="row between">
        <h2>
          Lineage · {model} {version.version}
        </h2>
        <button ref={closeRef} type="button" onClick={onClose} aria-label="Close lineage">
          Close
        </button>
      </div>
      <p className="muted">
        {version.type} · {version.target} · {version.stage} · created {formatTime(version.created_at)}
        {version.deployed_at ? ` · deployed ${formatTime(version.deployed_at)}` : ''}
        {version.archived_at ? ` · archived ${formatTime(version.archived_at)}` : ''}
      </p>
      <h3>Lineage</h3>
      <Fields record={version.lineage} known={KNOWN} />
      <h3>Artifacts</h3>
      <Fields record={version.artifacts} known={[]} />
    </aside>
  );
}
