/**
 * Import: a checkpoint dropped on the window or picked with Browse → inspection card → deploy
 * options → per-step progress with Cancel. The flow's state lives in the import store, so a
 * deploy keeps going (and stays visible) when the user looks at another model meanwhile.
 */
import { useEffect, useId, useRef, type ReactNode } from 'react';
import { useStore } from 'zustand';
import { MAX_SWARM_REPLICAS, type TargetName } from '../../../preload/contract';
import { formatBytes, formatCount, shortHash } from '../domain/format';
import type { InspectionView } from '../domain/inspection';
import { useStores } from '../stores/app-stores';

const ACCEPT = '.pt,.pth,.ckpt,.bin,.onnx,.safetensors';
const TARGETS: readonly TargetName[] = ['embedded', 'docker', 'swarm'];

function InspectionCard({ inspection }: { readonly inspection: InspectionView }): ReactNode {
  const hp = Object.entries(inspection.hyperParameters);
  return (
    <section className="card" aria-labelledby="inspection-title">
      <h2 id="inspection-title">Inspection</h2>
      <dl className="fields">
        <div>
          <dt>Architecture</dt>
          <dd>
            <strong>{inspection.type}</strong> <span className="muted">({inspection.format})</span>
          </dd>
        </div>
        <div>
          <dt>Parameters</dt>
          <dd>{formatCount(inspection.nParams)}</dd>
        </div>
        <div>
          <dt>File</dt>
          <dd>
            {formatBytes(inspection.sizeBytes)} · sha256 <code>{shortHash(inspection.sha256)}</code>
          </dd>
        </div>
      </dl>
      {inspection.reason ? <p className="warn-text">Generic model: {inspection.reason}</p> : null}
      {hp.length > 0 ? (
        <table className="compact">
          <caption>Hyper-parameters</caption>
          <tbody>
            {hp.map(([k, v]) => (
              <tr key={k}>
                <th scope="row">{k}</th>
                <td>
                  <code>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {inspection.warnings.length > 0 ? (
        <ul className="warnings" aria-label="Warnings">
          {inspection.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function DeployForm(): ReactNode {
  const { importer } = useStores();
  const options = useStore(importer, (s) => s.options);
  const phase = useStore(importer, (s) => s.phase);
  const inspection = useStore(importer, (s) => s.inspection);
  const id = useId();
  const set = importer.getState().setOptions;
  const busy = phase === 'deploying';
  const problem = inspection ? importer.getState().validate() : null;

  return (
    <form
      className="card form"
      aria-labelledby={`${id}-title`}
      onSubmit={(e) => {
        e.preventDefault();
        void importer.getState().deploy();
      }}
    >
      <h2 id={`${id}-title`}>Deploy</h2>
      <fieldset disabled={busy}>
        <label>
          Name
          <input value={options.name} onChange={(e) => set({ name: e.target.value })} required />
        </label>
        <label>
          Version <span className="muted">(empty: next)</span>
          <input value={options.version} onChange={(e) => set({ version: e.target.value })} placeholder="v1" />
        </label>
        <label>
          Target
          <select value={options.target} onChange={(e) => set({ target: e.target.value as TargetName })}>
            {TARGETS.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        {options.target === 'swarm' ? (
          <label>
            Replicas <span className="muted">(1–{MAX_SWARM_REPLICAS}; empty: deploy.swarm_replicas)</span>
            <input type="number" inputMode="numeric" min={1} max={MAX_SWARM_REPLICAS} value={options.replicas} onChange={(e) => set({ replicas: e.target.value })} />
          </label>
        ) : null}
        <label>
          Stage
          <select value={options.stage} onChange={(e) => set({ stage: e.target.value === 'staging' ? 'staging' : 'production' })}>
            <option value="production">production</option>
            <option value="staging">staging</option>
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={options.quantize} onChange={(e) => set({ quantize: e.target.checked })} /> Quantize (int8)
        </label>
        <label>
          Image size <span className="muted">(px; needed for ddpm, cfg_ddpm, vqvae2)</span>
          <input type="number" inputMode="numeric" min={4} max={4096} value={options.imageSize} onChange={(e) => set({ imageSize: e.target.value })} />
        </label>
      </fieldset>
      {problem ? <p className="muted">{problem}</p> : null}
      <button type="submit" className="primary" disabled={busy || problem !== null}>
        Deploy
      </button>
    </form>
  );
}

/** The docker build's output as it streams, kept scrolled to its end. */
function BuildLog({ lines }: { readonly lines: readonly string[] }): ReactNode {
  const ref = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines]);
  return (
    <div className="build-log">
      <h3>Build log ({lines.length} lines)</h3>
      <pre ref={ref} className="log" role="log" aria-label="Docker build log" tabIndex={0}>
        {lines.join('\n')}
      </pre>
    </div>
  );
}

function DeployProgress(): ReactNode {
  const { importer } = useStores();
  const steps = useStore(importer, (s) => s.steps);
  const phase = useStore(importer, (s) => s.phase);
  const taskId = useStore(importer, (s) => s.taskId);
  const cancelRequested = useStore(importer, (s) => s.cancelRequested);
  const result = useStore(importer, (s) => s.result);
  const buildLog = useStore(importer, (s) => s.buildLog);
  if (steps.length === 0 && phase !== 'deploying' && !result) return null;
  return (
    <section className="card" aria-labelledby="progress-title" aria-live="polite">
      <div className="row between">
        <h2 id="progress-title">Progress</h2>
        {phase === 'deploying' ? (
          <button type="button" onClick={() => void importer.getState().cancel()} disabled={!taskId || cancelRequested} title={taskId ? undefined : 'waiting for the task to start'}>
            {cancelRequested ? 'Cancelling…' : 'Cancel'}
          </button>
        ) : null}
      </div>
      <ol className="steps">
        {steps.map((s) => (
          <li key={s.step}>
            <strong>{s.step}</strong> <span className="muted">{s.message}</span>
            {s.value !== null ? <progress max={1} value={s.value} aria-label={`${s.step} progress`} /> : null}
          </li>
        ))}
      </ol>
      {buildLog.length > 0 ? <BuildLog lines={buildLog} /> : null}
      {phase === 'cancelled' ? <p className="warn-text">Cancelled.</p> : null}
      {result ? (
        <p className="ok-text">
          Deployed {result.name} {result.version} ({result.stage}){result.endpoint ? ` at ${result.endpoint}` : ''}.
          {result.archived_version ? ` ${result.archived_version} → archived.` : ''}
        </p>
      ) : null}
    </section>
  );
}

export function ImportPanel(): ReactNode {
  const { importer, deployments, ui } = useStores();
  const phase = useStore(importer, (s) => s.phase);
  const fileName = useStore(importer, (s) => s.fileName);
  const inspection = useStore(importer, (s) => s.inspection);
  const error = useStore(importer, (s) => s.error);
  const result = useStore(importer, (s) => s.result);

  return (
    <section className="import" aria-labelledby="import-title">
      <h1 id="import-title">Import a checkpoint</h1>
      <div className="dropzone">
        <p>Drop a checkpoint (.pt, .pth, .ckpt, .onnx, .safetensors) anywhere on the window, or</p>
        <label className="button">
          Browse…
          <input
            type="file"
            className="sr-only"
            accept={ACCEPT}
            aria-label="Browse for a checkpoint"
            disabled={phase === 'deploying'}
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void importer.getState().chooseFile(f);
              e.target.value = '';
            }}
          />
        </label>
        {fileName ? (
          <p>
            <code>{fileName}</code> — {phase === 'uploading' ? 'uploading…' : phase === 'inspecting' ? 'inspecting…' : null}
          </p>
        ) : null}
      </div>
      {error ? (
        <p role="alert" className="error">
          {phase === 'refused' ? 'Refused: ' : ''}
          {error}
        </p>
      ) : null}
      {inspection ? <InspectionCard inspection={inspection} /> : null}
      {inspection ? <DeployForm /> : null}
      <DeployProgress />
      {result ? (
        <button
          type="button"
          onClick={() => {
            deployments.getState().select(result.name);
            ui.getState().setView('model');
            importer.getState().reset();
          }}
        >
          Open {result.name}
        </button>
      ) : null}
    </section>
  );
}
