/**
 * The error the sampling code throws for bad request values (seed, num_steps, labels, …).
 *
 * It is a `RangeError` so plain JavaScript callers recognise it, and it carries the stable code
 * `E_INPUT`, so `toFramewormError` (main/common/errors.ts) turns it into a FramewormError that the
 * HTTP runtime answers with 4xx, never 5xx: a bad seed is the caller's fault and must not count
 * toward a deployment's error rate.
 */

/** A request value the samplers or the noise generator cannot accept (maps to HTTP 4xx). */
export class SamplerInputError extends RangeError {
  override readonly name = 'SamplerInputError';
  readonly code = 'E_INPUT' as const;
  constructor(
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}
