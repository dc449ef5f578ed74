/**
 * The live drift state of one deployment: a reference (a profile's rows, or the first
 * `referenceSize` sampled rows of traffic) and tumbling windows of `window` rows each, checked
 * against it as soon as they fill. Rows count samples: a request with 16 output images adds 16.
 * The reference belongs to the deployment, not a version: a new version that generates a
 * different distribution shows as output drift.
 */
import { concatGroups } from '../features/feature-extractor.js';
import { compareWindows } from '../stats/compare-windows.js';
import type { DriftResult, GroupSamples } from '../stats/types.js';

export interface TrackerSettings {
  /** Rows per tumbling window (`drift_window`). */
  readonly window: number;
  /** Rows the traffic reference keeps (`drift_reference_size`). */
  readonly referenceSize: number;
  readonly alpha: number;
  readonly permutations: number;
  readonly seed: number;
}

export interface TrackerStatus {
  readonly reference_source: string;
  readonly reference_rows: number;
  readonly reference_ready: boolean;
  readonly window_rows: number;
  readonly window_size: number;
  readonly windows_checked: number;
}

/** Rows of one request's groups: its largest group (per-sample groups beat per-request scalars). */
export function rowsOf(groups: readonly GroupSamples[]): number {
  return Math.max(0, ...groups.map((g) => g.rows.length));
}

export class DriftTracker {
  private reference: GroupSamples[] | null = null;
  private referenceSource = 'traffic';
  private filling: GroupSamples[][] = [];
  private fillingRows = 0;
  private window: GroupSamples[][] = [];
  private windowRows = 0;
  private checked = 0;
  private lastWindow: GroupSamples[] | null = null;

  constructor(private settings: TrackerSettings) {}

  /** Uses fixed reference rows (a profile); traffic no longer builds one. */
  setReference(groups: readonly GroupSamples[], source: string): void {
    this.reference = [...groups];
    this.referenceSource = source;
    this.filling = [];
    this.fillingRows = 0;
  }

  updateSettings(settings: TrackerSettings): void {
    this.settings = settings;
  }

  /**
   * Adds one request's groups. Returns the check of a window that this request completed,
   * `'reference'` when it completed the traffic reference, else null.
   */
  add(groups: readonly GroupSamples[]): { result: DriftResult; window: GroupSamples[] } | 'reference' | null {
    const rows = rowsOf(groups);
    if (rows === 0) return null;
    if (!this.reference) {
      this.filling.push([...groups]);
      this.fillingRows += rows;
      if (this.fillingRows < this.settings.referenceSize) return null;
      this.reference = concatGroups(this.filling);
      this.referenceSource = 'traffic';
      this.filling = [];
      return 'reference';
    }
    this.window.push([...groups]);
    this.windowRows += rows;
    if (this.windowRows < this.settings.window) return null;
    const current = concatGroups(this.window);
    this.window = [];
    this.windowRows = 0;
    this.checked++;
    this.lastWindow = current;
    const result = compareWindows(this.reference, current, {
      alpha: this.settings.alpha,
      permutations: this.settings.permutations,
      seed: (this.settings.seed + this.checked) >>> 0,
    });
    return { result, window: current };
  }

  status(): TrackerStatus {
    return {
      reference_source: this.referenceSource,
      reference_rows: this.reference ? rowsOf(this.reference) : this.fillingRows,
      reference_ready: this.reference !== null,
      window_rows: this.windowRows,
      window_size: this.settings.window,
      windows_checked: this.checked,
    };
  }

  /** The reference rows (null until ready) and the last checked window (or the one filling). */
  samples(): { reference: GroupSamples[] | null; current: GroupSamples[] | null } {
    const filling = this.window.length > 0 ? concatGroups(this.window) : null;
    return { reference: this.reference, current: this.lastWindow ?? filling };
  }

  /** Recent traffic for a profile made from a deployment: the reference-in-progress or the windows. */
  recent(): GroupSamples[] | null {
    if (!this.reference) return this.filling.length > 0 ? concatGroups(this.filling) : null;
    const parts = [...(this.lastWindow ? [this.lastWindow] : []), ...this.window];
    return parts.length > 0 ? concatGroups(parts) : null;
  }
}
