/**
 * A bounded, seeded reservoir of raw samples (Vitter's algorithm R).
 *
 * The drift reference keeps raw rows rather than histograms (issue 10): the tests need the
 * samples themselves (MMD, exact KS), and a uniform sample of everything seen is what a
 * reference of fixed size should be. Memory is `capacity` rows by construction; the seed makes
 * which rows are kept reproducible.
 */
import { Rng } from './stats/rng.js';

/** A uniform random sample of at most `capacity` items out of everything offered. */
export class ReservoirSampler<T> {
  private readonly kept: T[] = [];
  private offered = 0;
  private readonly rng: Rng;

  /** `capacity` ≥ 1 items; the same seed and the same offers keep the same items. */
  constructor(
    readonly capacity: number,
    seed: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`reservoir capacity must be a positive integer, got ${capacity}`);
    this.rng = new Rng(seed);
  }

  /** Offers one item; it is kept with probability capacity / seen. */
  add(item: T): void {
    this.offered++;
    if (this.kept.length < this.capacity) {
      this.kept.push(item);
      return;
    }
    const slot = this.rng.nextInt(this.offered);
    if (slot < this.capacity) this.kept[slot] = item;
  }

  /** Offers every item of `items`, in order. */
  addAll(items: Iterable<T>): void {
    for (const item of items) this.add(item);
  }

  /** How many items were offered in total. */
  get seen(): number {
    return this.offered;
  }

  /** The kept items (a copy, in slot order). */
  items(): T[] {
    return this.kept.slice();
  }
}
