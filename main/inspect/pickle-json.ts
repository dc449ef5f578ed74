/**
 * Converts unpickled values to plain JSON for reports (training_state, config, optimizer
 * summaries). Pickles can share and even cycle objects through the memo, so the walk tracks
 * its ancestors and stops at a depth and node budget instead of trusting the input's shape.
 */
import type { PickleValue } from './pickle-types.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const MAX_DEPTH = 32;
const MAX_NODES = 100_000;

interface Walk {
  nodes: number;
  readonly ancestors: Set<object>;
}

function number(value: number): JsonValue {
  // JSON has no inf/nan; Python's spelling keeps e.g. best_metric = inf readable.
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  return value;
}

function walk(value: PickleValue, depth: number, state: Walk): JsonValue {
  state.nodes++;
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return number(value);
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (depth >= MAX_DEPTH || state.nodes > MAX_NODES) return '…';
  if (state.ancestors.has(value)) return '<cycle>';
  switch (value.kind) {
    case 'tensor':
      return { tensor: { dtype: value.dtype, shape: [...value.shape] } };
    case 'storage':
      return `<storage ${value.key}>`;
    case 'global':
      return `<${value.qualifiedName}>`;
    case 'bytes':
      return `<${value.length} bytes>`;
    default:
      break;
  }
  state.ancestors.add(value);
  try {
    if (value.kind === 'dict') {
      const out: { [key: string]: JsonValue } = {};
      for (const [k, v] of value.entries) out[String(k)] = walk(v, depth + 1, state);
      return out;
    }
    return value.items.map((item) => walk(item, depth + 1, state));
  } finally {
    state.ancestors.delete(value);
  }
}

/** Converts an unpickled value to JSON; tensors become `{tensor: {dtype, shape}}`. */
export function toJson(value: PickleValue): JsonValue {
  return walk(value, 0, { nodes: 0, ancestors: new Set() });
}
