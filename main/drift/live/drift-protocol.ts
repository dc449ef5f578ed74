/** Messages between the control plane and the drift worker thread. */
import type { DriftResult, GroupSamples } from '../stats/types.js';
import type { TrackerSettings, TrackerStatus } from './drift-tracker.js';

export type ToDriftWorker =
  | { readonly op: 'configure'; readonly name: string; readonly settings: TrackerSettings; readonly reference?: { readonly groups: GroupSamples[]; readonly source: string } }
  | {
      readonly op: 'sample'; readonly name: string; readonly version: string; readonly type: string; readonly latentDim?: number;
      readonly request: unknown;
      /** The answer as sent: an object, or the JSON bytes the inference worker encoded. */
      readonly response: unknown;
    }
  | { readonly op: 'query'; readonly id: number; readonly name: string; readonly what: 'status' | 'samples' | 'recent' }
  | { readonly op: 'forget'; readonly name: string };

export type FromDriftWorker =
  | { readonly op: 'check'; readonly name: string; readonly version: string; readonly result: DriftResult; readonly status: TrackerStatus }
  | { readonly op: 'reference'; readonly name: string; readonly version: string; readonly rows: number; readonly source: string }
  | {
      readonly op: 'reply'; readonly id: number; readonly status: TrackerStatus | null;
      readonly samples: { reference: GroupSamples[] | null; current: GroupSamples[] | null } | null;
      readonly recent: GroupSamples[] | null;
    }
  | { readonly op: 'error'; readonly name?: string; readonly message: string }
  /** A sample handled without completing the reference or a window (keeps the queue count honest). */
  | { readonly op: 'ack'; readonly name: string };
