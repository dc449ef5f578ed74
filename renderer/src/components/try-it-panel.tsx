/**
 * Try it: a form generated from the deployment's request schema (seed, batch size, steps, a
 * class picker, a guidance slider; a picture for VAE / VQ-VAE-2), the answer shown as pictures,
 * and the same request as a curl command to copy.
 */
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { TryFieldView } from '../../../preload/contract';
import { buildTryBody, curlCommand, curlPreview, rgbaToTensor, targetSide, type ImageTensor } from '../domain/try-request';
import { useStores } from '../stores/app-stores';
import { CopyButton } from './copy-button';

/** A picked picture scaled to the model's input, as its tensor and a preview. */
async function pictureToTensor(file: File, f: TryFieldView): Promise<{ tensor: ImageTensor; preview: string }> {
  if (typeof createImageBitmap !== 'function') throw new Error('this browser cannot decode pictures');
  const bitmap = await createImageBitmap(file);
  const w = targetSide(f.width, bitmap.width, f.multiple_of);
  const h = targetSide(f.height, bitmap.height, f.multiple_of);
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas');
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  const pixels = ctx.getImageData(0, 0, w, h).data;
  return { tensor: rgbaToTensor(pixels, w, h, f.channels ?? 3, f.range ?? '[0,1]'), preview: canvas.toDataURL('image/png') };
}

function Field({ name, field, value }: { readonly name: string; readonly field: TryFieldView; readonly value: number | null | undefined }): ReactNode {
  const { tryIt } = useStores();
  const set = (v: number | null): void => tryIt.getState().setValue(name, field.key, v);
  const [imageError, setImageError] = useState<string | null>(null);
  switch (field.kind) {
    case 'class':
      return (
        <label>
          {field.label}
          <select value={value === null || value === undefined ? '' : String(value)} onChange={(e) => set(e.target.value === '' ? null : Number(e.target.value))}>
            <option value="">Unconditional</option>
            {Array.from({ length: field.classes ?? 0 }, (_, i) => (
              <option key={i} value={i}>
                Class {i}
              </option>
            ))}
          </select>
        </label>
      );
    case 'number':
      return (
        <label>
          {field.label}: {value ?? '—'}
          <input type="range" min={field.min} max={field.max} step={field.step ?? 'any'} value={value ?? field.min ?? 0} onChange={(e) => set(Number(e.target.value))} />
        </label>
      );
    case 'image':
      return (
        <label>
          {field.label} <span className="muted small-text">({field.channels ?? 3} channel{field.channels === 1 ? '' : 's'}, {field.height ? `${field.height}×${field.width ?? field.height}` : `any multiple of ${field.multiple_of ?? 1}`} px)</span>
          <input
            type="file"
            accept="image/*"
            aria-label={`Picture for ${name}`}
            onChange={(e) => {
              const file = e.target.files?.[0];
              if (!file) return;
              setImageError(null);
              pictureToTensor(file, field).then(
                (r) => tryIt.getState().setImage(name, { name: file.name, ...r }),
                (err: unknown) => setImageError(`${file.name}: ${err instanceof Error ? err.message : String(err)}`),
              );
            }}
          />
          {imageError ? <span className="error">{imageError}</span> : null}
        </label>
      );
    default:
      return (
        <label>
          {field.label}
          <input type="number" inputMode="numeric" min={field.min} max={field.max} step={field.step ?? 1} value={value ?? ''} onChange={(e) => set(e.target.value === '' ? null : Number(e.target.value))} />
        </label>
      );
  }
}

export function TryItPanel({ name, version }: { readonly name: string; readonly version: string | null }): ReactNode {
  const { tryIt } = useStores();
  const state = useStore(tryIt, (s) => s.byModel[name]);

  useEffect(() => {
    if (version) void tryIt.getState().load(name);
  }, [name, version, tryIt]);

  const form = state?.form ?? null;
  const body = useMemo(() => (form ? buildTryBody(form, state?.values ?? {}, state?.image?.tensor ?? null) : null), [form, state?.values, state?.image]);
  if (!version) {
    return (
      <section className="card" aria-labelledby="try-title">
        <h2 id="try-title">Try it</h2>
        <p className="muted">Nothing is serving: deploy or roll back a version to production to try it.</p>
      </section>
    );
  }
  const problem = state?.form ? tryIt.getState().problem(name) : null;
  return (
    <section className="card try-it" aria-labelledby="try-title">
      <h2 id="try-title">Try it</h2>
      {!form ? (
        state?.error ? <p role="alert" className="error">{state.error}</p> : <p className="muted">Loading the request form…</p>
      ) : form.unsupported ? (
        <p className="muted">{form.unsupported}</p>
      ) : (
        <form
          aria-label={`Try ${name}`}
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            void tryIt.getState().run(name);
          }}
        >
          <p className="muted small-text">
            {form.type} {form.version} · POST {form.url}
          </p>
          <fieldset>
            {form.fields.map((f) => (
              <Field key={f.key} name={name} field={f} value={state?.values[f.key]} />
            ))}
          </fieldset>
          {state?.image ? <img className="try-input" src={state.image.preview} alt={`Input picture ${state.image.name}`} /> : null}
          <div className="row wrap">
            <button type="submit" className="primary" disabled={state?.running === true || problem !== null}>
              {state?.running ? 'Generating…' : form.fields.some((f) => f.kind === 'image') ? 'Reconstruct' : 'Generate'}
            </button>
            {problem ? <span className="muted">{problem}</span> : null}
          </div>
        </form>
      )}
      {form && body ? (
        <div className="curl">
          <div className="row between">
            <h3>curl</h3>
            <CopyButton text={curlCommand(form.url, body)} label="Copy curl command" />
          </div>
          <pre className="json">
            <code>{curlPreview(form.url, body)}</code>
          </pre>
        </div>
      ) : null}
      {form && state?.error ? (
        <p role="alert" className="error">
          {state.error}
        </p>
      ) : null}
      {state?.outcome ? (
        <figure className="try-results" aria-label={`Results of ${name}`}>
          <div className="gallery">
            {state.outcome.pictures.map((png, i) => (
              <img key={i} src={`data:image/png;base64,${png}`} alt={`Result ${i + 1} of ${state.outcome?.pictures.length ?? 0} from ${name} ${state.outcome?.version ?? ''}`} />
            ))}
          </div>
          <figcaption className="muted">
            {state.outcome.pictures.length} picture{state.outcome.pictures.length === 1 ? '' : 's'} from {state.outcome.version} in {Math.round(state.outcome.latency_ms)} ms
          </figcaption>
        </figure>
      ) : null}
    </section>
  );
}
