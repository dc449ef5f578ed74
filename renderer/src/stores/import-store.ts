/**
 * The import flow: a dropped or browsed checkpoint → made readable by the control plane (path or
 * upload) → `deploy.inspect` → deploy options → `deploy.start` with per-step progress and Cancel.
 * Lives outside the panel so a deploy in progress survives navigating away.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { MAX_SWARM_REPLICAS, type DeployStartArgs, type DeployStartResult, type ProgressEvent, type TargetName } from '../../../preload/contract';
import { describeError, errorCode, type RendererClient } from '../bridge/client-types';
import { nameFromFile, NEEDS_IMAGE_SIZE, toInspectionView, type InspectionView } from '../domain/inspection';

export type ImportPhase = 'idle' | 'uploading' | 'inspecting' | 'ready' | 'refused' | 'deploying' | 'done' | 'failed' | 'cancelled';

export interface DeployOptions {
  readonly name: string;
  /** Empty: the control plane picks the next version. */
  readonly version: string;
  readonly target: TargetName;
  readonly stage: 'production' | 'staging';
  readonly quantize: boolean;
  /** Empty: from the checkpoint; needed for fully convolutional types. */
  readonly imageSize: string;
  /** Swarm target only: tasks of the service, 1..MAX_SWARM_REPLICAS; empty: deploy.swarm_replicas. */
  readonly replicas: string;
}

/** One step of the deploy, with its latest message and fraction. */
export interface StepView {
  readonly step: string;
  readonly message: string;
  readonly value: number | null;
}

export interface ImportState {
  readonly phase: ImportPhase;
  readonly fileName: string | null;
  readonly path: string | null;
  readonly inspection: InspectionView | null;
  readonly options: DeployOptions;
  readonly steps: readonly StepView[];
  /** Docker build output (the `build` / `base-image` steps' lines), streamed while the image builds; bounded. */
  readonly buildLog: readonly string[];
  readonly taskId: string | null;
  readonly cancelRequested: boolean;
  readonly result: DeployStartResult | null;
  readonly error: string | null;
  chooseFile(file: File): Promise<void>;
  setOptions(patch: Partial<DeployOptions>): void;
  /** Why the options cannot be deployed yet, or null. */
  validate(): string | null;
  deploy(): Promise<void>;
  cancel(): Promise<void>;
  reset(): void;
}

export type ImportStore = StoreApi<ImportState>;

const DEFAULT_OPTIONS: DeployOptions = { name: '', version: '', target: 'embedded', stage: 'production', quantize: false, imageSize: '', replicas: '' };

/** Build-log lines kept (the end of a long build is what matters). */
const BUILD_LOG_LINES = 400;
const BUILD_STEPS = new Set(['build', 'base-image']);

/** Adds a progress event's message to the build log when it is a docker build line. */
export function applyBuildLine(log: readonly string[], p: ProgressEvent): readonly string[] {
  if (!BUILD_STEPS.has(p.step) || !p.message) return log;
  const next = [...log, p.message];
  return next.length > BUILD_LOG_LINES ? next.slice(next.length - BUILD_LOG_LINES) : next;
}

/** Adds a progress event to the step list: a known step is updated in place, a new one appended. */
export function applyProgress(steps: readonly StepView[], p: ProgressEvent): StepView[] {
  const view: StepView = { step: p.step, message: p.message, value: typeof p.value === 'number' ? p.value : null };
  const i = steps.findIndex((s) => s.step === p.step);
  if (i < 0) return [...steps, view];
  const next = [...steps];
  next[i] = view;
  return next;
}

function isCancellation(err: unknown): boolean {
  const code = errorCode(err) ?? '';
  return /CANCEL|ABORT/i.test(code) || (err instanceof Error && err.name === 'AbortError');
}

/** Creates the import store over a client. */
export function createImportStore(client: RendererClient): ImportStore {
  return createStore<ImportState>()((set, get) => ({
    phase: 'idle',
    fileName: null,
    path: null,
    inspection: null,
    options: DEFAULT_OPTIONS,
    steps: [],
    buildLog: [],
    taskId: null,
    cancelRequested: false,
    result: null,
    error: null,

    async chooseFile(file) {
      if (get().phase === 'deploying') return;
      set({
        phase: 'uploading', fileName: file.name, path: null, inspection: null, steps: [], buildLog: [], taskId: null,
        cancelRequested: false, result: null, error: null,
        options: { ...get().options, name: get().options.name || nameFromFile(file.name) },
      });
      let path: string;
      try {
        path = await client.importFile(file);
      } catch (err) {
        set({ phase: 'failed', error: describeError(err) });
        return;
      }
      set({ phase: 'inspecting', path });
      try {
        const inspection = toInspectionView(await client.invoke('deploy.inspect', { model: path }));
        set({ phase: 'ready', inspection });
      } catch (err) {
        // The control plane refuses files it cannot read safely; its message says why. It names
        // the uploaded copy, which the user never saw: show the file they chose instead.
        set({ phase: 'refused', error: describeError(err).split(path).join(file.name) });
      }
    },

    setOptions(patch) {
      set((s) => ({ options: { ...s.options, ...patch } }));
    },

    validate() {
      const { options, inspection, path } = get();
      if (!path || !inspection) return 'choose a checkpoint first';
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(options.name)) {
        return 'name: letters, digits, dot, dash or underscore, starting with a letter or digit (at most 64)';
      }
      if (options.imageSize !== '') {
        const n = Number(options.imageSize);
        if (!Number.isInteger(n) || n < 4 || n > 4096) return 'image size: a whole number of pixels from 4 to 4096';
      } else if (NEEDS_IMAGE_SIZE.has(inspection.type)) {
        return `image size: a ${inspection.type} model is fully convolutional, so its weights do not tell the image size`;
      }
      if (options.target === 'swarm' && options.replicas !== '') {
        const n = Number(options.replicas);
        if (!Number.isInteger(n) || n < 1 || n > MAX_SWARM_REPLICAS) return `replicas: a whole number from 1 to ${MAX_SWARM_REPLICAS} (to stop serving, stop the deployment)`;
      }
      return null;
    },

    async deploy() {
      const s = get();
      const invalid = s.validate();
      if (invalid) {
        set({ error: invalid });
        return;
      }
      const o = s.options;
      const args: DeployStartArgs = {
        model: s.path!,
        name: o.name,
        target: o.target,
        stage: o.stage,
        quantize: o.quantize,
        actor: 'gui',
        ...(o.version.trim() ? { version: o.version.trim() } : {}),
        ...(o.imageSize !== '' ? { imageSize: Number(o.imageSize) } : {}),
        // The control plane refuses --replicas on other targets; a value left from choosing swarm first is dropped.
        ...(o.target === 'swarm' && o.replicas !== '' ? { replicas: Number(o.replicas) } : {}),
      };
      set({ phase: 'deploying', steps: [], buildLog: [], taskId: null, cancelRequested: false, result: null, error: null });
      try {
        const result = await client.invoke('deploy.start', args, (p) => {
          set((cur) => ({ steps: applyProgress(cur.steps, p), buildLog: applyBuildLine(cur.buildLog, p), taskId: cur.taskId ?? p.task_id ?? null }));
        });
        set({ phase: 'done', result });
      } catch (err) {
        const cancelled = isCancellation(err) || get().cancelRequested;
        set({ phase: cancelled ? 'cancelled' : 'failed', error: cancelled ? null : describeError(err) });
      }
    },

    async cancel() {
      const { taskId, phase } = get();
      if (phase !== 'deploying' || !taskId) return;
      set({ cancelRequested: true });
      try {
        await client.invoke('task.cancel', { task_id: taskId });
      } catch (err) {
        set({ cancelRequested: false, error: `cancel: ${describeError(err)}` });
      }
    },

    reset() {
      if (get().phase === 'deploying') return;
      set({ phase: 'idle', fileName: null, path: null, inspection: null, options: DEFAULT_OPTIONS, steps: [], buildLog: [], taskId: null, cancelRequested: false, result: null, error: null });
    },
  }));
}
