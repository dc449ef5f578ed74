/**
 * Events as sentences a person reads ("v1 → v2: rolled back by the watcher — p95 312 ms"), one
 * per event kind, for the timeline and the toasts. Unknown kinds fall back to their fields.
 */
import type { EventView } from '../../../preload/contract';
import { formatMs, formatRate } from './format';

const ENVELOPE = new Set(['id', 'ts', 'model', 'event']);

function str(e: EventView, key: string): string | null {
  const v = e[key];
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null;
}

function num(e: EventView, key: string): number | null {
  const v = e[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** "by the watcher" / "by gui" / "" — who did it, when the event says. */
function by(e: EventView): string {
  const actor = str(e, 'actor');
  if (!actor) return '';
  return actor === 'watcher' ? ' by the watcher' : ` by ${actor}`;
}

function reason(e: EventView): string {
  const r = str(e, 'reason');
  return r ? ` — “${r}”` : '';
}

/** The event's own scalar fields as `key=value`, for kinds without a sentence. */
export function eventFields(e: EventView): string {
  return Object.entries(e)
    .filter(([k, v]) => !ENVELOPE.has(k) && v !== null && v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

function measurements(e: EventView): string {
  const parts: string[] = [];
  const p95 = num(e, 'p95_ms');
  const err = num(e, 'error_rate');
  if (p95 !== null) parts.push(`p95 ${formatMs(p95)}`);
  if (err !== null) parts.push(`errors ${formatRate(err)}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** One sentence for one event. */
export function describeEvent(e: EventView): string {
  const v = str(e, 'version') ?? '';
  switch (e.event) {
    case 'register':
      return `${v} registered as ${str(e, 'stage') ?? '?'} (${str(e, 'type') ?? '?'}, ${str(e, 'target') ?? '?'} target)${by(e)}.`;
    case 'deploy':
      return `${v} deployed to ${str(e, 'stage') ?? '?'} on the ${str(e, 'target') ?? '?'} target${str(e, 'endpoint') ? ` at ${str(e, 'endpoint')}` : ''}.`;
    case 'promote': {
      const archived = str(e, 'archived_version');
      return `${v} promoted ${str(e, 'from_stage') ?? '?'} → ${str(e, 'to_stage') ?? '?'}${by(e)}${archived ? `; ${archived} archived` : ''}${reason(e)}.`;
    }
    case 'archive':
      return `${v} archived (was ${str(e, 'from_stage') ?? '?'})${str(e, 'replaced_by') ? `, replaced by ${str(e, 'replaced_by')}` : ''}${by(e)}.`;
    case 'stop':
      return `Stopped${v ? ` ${v}` : ''}${reason(e)}.`;
    case 'restore':
      return `${v} brought back up at agent start.`;
    case 'restore_failed':
      return `${v} could not be brought back up: ${str(e, 'error') ?? 'unknown error'}.`;
    case 'rollback_started':
      return `Rollback started${by(e)}: ${str(e, 'from_version') ?? '?'} → ${str(e, 'to_version') ?? '?'}${measurements(e)}${reason(e)}.`;
    case 'rollback': {
      const from = str(e, 'from_version') ?? '?';
      const to = str(e, 'to_version') ?? '?';
      if (e['success'] === false) return `Rollback ${from} → ${to} failed${by(e)}: ${str(e, 'error') ?? 'unknown error'}.`;
      return `Rolled back ${from} → ${to}${by(e)}${measurements(e)}${reason(e)}.`;
    }
    case 'check': {
      const verdict = str(e, 'verdict') ?? '?';
      const requests = num(e, 'requests') ?? 0;
      const streak = num(e, 'streak');
      const what = verdict === 'inconclusive' ? 'inconclusive (too few requests)' : verdict === 'error' ? `could not measure${str(e, 'error') ? `: ${str(e, 'error')}` : ''}` : verdict;
      return `Check of ${v}: ${what} — ${requests} request${requests === 1 ? '' : 's'}${measurements(e)}${verdict === 'breach' && streak !== null ? `, breach streak ${streak}` : ''}.`;
    }
    case 'drill': {
      const action = str(e, 'action');
      if (action === 'start') {
        const parts = [num(e, 'latency_ms') !== null ? `+${num(e, 'latency_ms')} ms` : null, num(e, 'error_rate') !== null ? `${formatRate(num(e, 'error_rate'))} errors` : null].filter(Boolean);
        return `Fault drill started on ${v}: ${parts.join(', ') || 'no fault'}${by(e)}.`;
      }
      return `Fault drill on ${v} ${action === 'expired' ? 'ran out' : action === 'version_left' ? 'ended (the version left production)' : 'cleared'}.`;
    }
    case 'alert': {
      const about = (str(e, 'about_event') ?? 'event').replace(/_/g, ' ');
      const channel = str(e, 'channel') ?? '?';
      const outcome = str(e, 'outcome');
      if (outcome === 'sent') return `Alert about the ${about} sent to ${channel}.`;
      if (outcome === 'skipped') return `Alert about the ${about} not sent to ${channel}: ${str(e, 'error') ?? 'skipped'}.`;
      return `Alert about the ${about} to ${channel} failed: ${str(e, 'error') ?? 'unknown error'}.`;
    }
    case 'config_rejected':
      return `A config edit was refused; the running settings stay: ${str(e, 'error') ?? ''}.`;
    case 'drift_check':
      return `Drift check of ${v}: ${e['drifted'] === true ? `drifted, severity ${str(e, 'severity') ?? '?'}` : 'no drift'}.`;
    case 'drift': {
      const groups = Array.isArray(e['groups']) ? (e['groups'] as unknown[]).filter((g): g is string => typeof g === 'string') : [];
      return `Drift on ${v}: severity ${str(e, 'severity') ?? '?'}, ${num(e, 'consecutive') ?? '?'} windows in a row${groups.length > 0 ? ` (${groups.join(', ')})` : ''}.`;
    }
    case 'drift_reference':
      return `Drift reference of ${v} set from ${str(e, 'source') ?? '?'} (${num(e, 'rows') ?? '?'} rows).`;
    case 'image_rebuilt':
      return `Image of ${v} rebuilt (${str(e, 'image') ?? '?'}).`;
    case 'backend_lost':
      return `${v} lost its ${str(e, 'container') ? `container ${str(e, 'container')}` : 'backend'}: ${str(e, 'reason') ?? 'unknown reason'}.`;
    case 'backend_restored':
      return `${v} is back${str(e, 'container') ? ` in container ${str(e, 'container')}` : ''}.`;
    case 'self_heal_failed':
      return `${v} could not be replaced: ${str(e, 'error') ?? 'unknown error'}.`;
    default: {
      const fields = eventFields(e);
      return fields ? `${e.event.replace(/_/g, ' ')}: ${fields}` : e.event.replace(/_/g, ' ');
    }
  }
}

/** How urgent an event is for a toast: null for events that make none. */
export function toastLevel(e: EventView): 'info' | 'warning' | 'critical' | null {
  switch (e.event) {
    case 'rollback':
      if (e['success'] === false) return 'critical';
      // The user who clicked "roll back" here has just seen it happen; everyone else is told.
      return str(e, 'actor') === 'gui' ? null : 'warning';
    case 'rollback_started':
      return null;
    case 'drift':
      return str(e, 'severity') === 'HIGH' ? 'critical' : 'warning';
    case 'restore_failed':
    case 'self_heal_failed':
    case 'backend_lost':
      return 'critical';
    case 'alert':
      return str(e, 'outcome') === 'failed' ? 'warning' : null;
    case 'config_rejected':
      return 'warning';
    default:
      return null;
  }
}
