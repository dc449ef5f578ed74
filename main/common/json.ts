/**
 * JSON value types shared by the event log, the registry's JSON columns and config snapshots.
 * They are type aliases (not interfaces) on purpose: TypeScript gives aliases an implicit index
 * signature, so record shapes declared with `type` are assignable to `JsonObject`.
 */
export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | readonly JsonValue[] | JsonObject;
export type JsonObject = { readonly [key: string]: JsonValue };

/** True when `value` is a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses text that must hold a JSON object; anything else (bad JSON, an array, a scalar)
 * yields `null` so callers decide how loud to be about corrupt data.
 */
export function parseJsonObject(text: string): JsonObject | null {
  try {
    const value: unknown = JSON.parse(text);
    return isJsonObject(value) ? value : null;
  } catch {
    return null;
  }
}
