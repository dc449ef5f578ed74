/**
 * The drift feature extractor: request/response pairs or data-file observations → feature
 * groups in the statistics' format. Owns the image embedder (one onnxruntime session).
 */
import { FramewormError } from '../../common/errors.js';
import type { ModelType } from '../../common/types.js';
import type { GroupSamples } from '../stats/types.js';
import { ImageEmbedder } from '../embedding/image-embedder.js';
import { featureGroups } from './feature-groups.js';
import type { Observation } from './observation.js';
import { observeTraffic, type TrafficContext } from './traffic.js';

/** Computes feature groups; create once per worker, `dispose()` at the end. */
export class FeatureExtractor {
  private constructor(private readonly embedder: ImageEmbedder) {}

  /** Loads the image embedder. */
  static async create(): Promise<FeatureExtractor> {
    return new FeatureExtractor(await ImageEmbedder.create());
  }

  /** The groups of one served request and its response (one row per sample; request-level scalars one row). */
  async fromTraffic(type: ModelType, request: unknown, response: unknown, ctx: TrafficContext = {}): Promise<GroupSamples[]> {
    return featureGroups(type, observeTraffic(type, request, response, ctx), this.embedder);
  }

  /** The groups of an observation made some other way (a profile's data file). */
  async fromObservation(type: ModelType, obs: Observation): Promise<GroupSamples[]> {
    return featureGroups(type, obs, this.embedder);
  }

  /** Releases the embedder's session. */
  async dispose(): Promise<void> {
    await this.embedder.dispose();
  }
}

/**
 * Concatenates the rows of same-named groups (many requests → one window), keeping first-seen
 * order. Groups of one name must agree on kind and columns; a disagreement (a request of another
 * image size, say) is an E_INPUT naming the group, rather than rows of two meanings mixed.
 */
export function concatGroups(batches: readonly (readonly GroupSamples[])[]): GroupSamples[] {
  const merged = new Map<string, GroupSamples>();
  for (const groups of batches) {
    for (const g of groups) {
      const prev = merged.get(g.name);
      if (!prev) {
        merged.set(g.name, g);
        continue;
      }
      if (prev.kind !== g.kind) throw new FramewormError('E_INPUT', `feature group ${g.name} is ${prev.kind} in one sample and ${g.kind} in another`);
      if (prev.kind === 'numeric' && g.kind === 'numeric') {
        const a = prev.featureNames ?? [];
        const b = g.featureNames ?? [];
        if (a.length !== b.length || a.some((n, i) => n !== b[i])) {
          throw new FramewormError('E_INPUT', `feature group ${g.name} has columns [${a.join(', ')}] in one sample and [${b.join(', ')}] in another`);
        }
        merged.set(g.name, { ...prev, rows: [...prev.rows, ...g.rows] });
      } else if (prev.kind === 'scalar' && g.kind === 'scalar') {
        merged.set(g.name, { ...prev, rows: [...prev.rows, ...g.rows] });
      } else if (prev.kind === 'categorical' && g.kind === 'categorical') {
        merged.set(g.name, { ...prev, rows: [...prev.rows, ...g.rows] });
      }
    }
  }
  return [...merged.values()];
}
