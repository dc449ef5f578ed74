/**
 * A dense numeric array read from a user's data file, with the facts the drift profile needs.
 */

/** What the array's elements were on disk: pixels in uint8 files mean 0..255, not a model range. */
export type ElementKind = 'float' | 'int' | 'uint8' | 'bool';

/** A C-order array of numbers, widened to float64. */
export interface NumericArray {
  /** Name inside the file (an .npz key) or the file's stem. */
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float64Array;
  readonly kind: ElementKind;
}

/** `(3, 4)`-style text for messages, the way NumPy prints shapes. */
export function formatDims(dims: readonly number[]): string {
  return dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
}
