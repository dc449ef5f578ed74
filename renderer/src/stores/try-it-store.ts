/**
 * The try-it panel's state per model: the form built by the control plane from the deployment's
 * export (`deploy.schema`), the values typed, an uploaded picture for image models, and the
 * last answer (`deploy.try`, posted by the control plane to the stable endpoint: the page may
 * not call another origin). The endpoint validates; its 4xx message is shown as is.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { TryFormView } from '../../../preload/contract';
import { describeError, type RendererClient } from '../bridge/client-types';
import { buildTryBody, fieldProblem, initialValues, picturesOf, type ImageTensor } from '../domain/try-request';

export interface TryOutcome {
  readonly pictures: readonly string[];
  readonly latency_ms: number;
  readonly version: string;
}

export interface TryModelState {
  readonly form: TryFormView | null;
  readonly values: Readonly<Record<string, number | null>>;
  readonly image: { readonly name: string; readonly tensor: ImageTensor; readonly preview: string } | null;
  readonly running: boolean;
  readonly outcome: TryOutcome | null;
  readonly error: string | null;
}

export interface TryItState {
  readonly byModel: Readonly<Record<string, TryModelState>>;
  load(name: string): Promise<void>;
  setValue(name: string, key: string, value: number | null): void;
  setImage(name: string, image: TryModelState['image']): void;
  /** Why the request cannot be sent yet, or null. */
  problem(name: string): string | null;
  run(name: string): Promise<void>;
}

export type TryItStore = StoreApi<TryItState>;

const EMPTY: TryModelState = { form: null, values: {}, image: null, running: false, outcome: null, error: null };

/** Creates the try-it store over a client. */
export function createTryItStore(client: RendererClient): TryItStore {
  return createStore<TryItState>()((set, get) => {
    const patch = (name: string, p: Partial<TryModelState>): void =>
      set((s) => ({ byModel: { ...s.byModel, [name]: { ...(s.byModel[name] ?? EMPTY), ...p } } }));
    return {
      byModel: {},

      async load(name) {
        try {
          const form = await client.invoke('deploy.schema', { name });
          const cur = get().byModel[name];
          // Keep what was typed when the same version's form comes again (a status refresh).
          const same = cur?.form && cur.form.version === form.version && cur.form.type === form.type;
          patch(name, { form, values: same ? cur.values : initialValues(form), ...(same ? {} : { image: null, outcome: null }), error: null });
        } catch (err) {
          patch(name, { form: null, error: describeError(err) });
        }
      },

      setValue(name, key, value) {
        const cur = get().byModel[name] ?? EMPTY;
        patch(name, { values: { ...cur.values, [key]: value } });
      },

      setImage(name, image) {
        patch(name, { image, error: null });
      },

      problem(name) {
        const s = get().byModel[name];
        if (!s?.form) return 'no form yet';
        if (s.form.unsupported) return s.form.unsupported;
        for (const f of s.form.fields) {
          if (f.kind === 'image' && !s.image) return `${f.label}: choose a picture`;
          const p = fieldProblem(f, s.values[f.key]);
          if (p) return p;
        }
        return null;
      },

      async run(name) {
        const s = get().byModel[name];
        const problem = get().problem(name);
        if (!s?.form || problem) {
          patch(name, { error: problem });
          return;
        }
        const form = s.form;
        patch(name, { running: true, error: null });
        try {
          const r = await client.invoke('deploy.try', { name, body: buildTryBody(form, s.values, s.image?.tensor ?? null) });
          patch(name, { running: false, outcome: { pictures: picturesOf(form, r.output), latency_ms: r.latency_ms, version: form.version } });
        } catch (err) {
          patch(name, { running: false, error: describeError(err) });
        }
      },
    };
  });
}
