/**
 * Which events are alerts, where each goes by default, and what it says. One row per kind of
 * alert; drift (a later issue) joins by adding a row, with no change to the router or channels.
 * The channels of a row are intersected with the config's `alert_on` at delivery time.
 */
import type { AlertChannel } from '../config/deploy-config.js';
import type { EventName, EventOf, FramewormEvent } from '../events/event-types.js';

export type AlertSeverity = 'info' | 'warning' | 'critical';

/** One labelled value of an alert (a Block Kit field, a `label: value` part of a log line). */
export interface AlertField {
  readonly label: string;
  readonly value: string;
}

/** What an alert says, independent of the channel that carries it. */
export interface AlertContent {
  /** One line: the Slack header (cut to 150 characters there), the tray title. */
  readonly title: string;
  /** One or two sentences: the Slack text fallback and section, the tray body. */
  readonly summary: string;
  readonly severity: AlertSeverity;
  readonly fields: readonly AlertField[];
}

/** The thresholds an alert compares its measurements with (the config's current values). */
export interface AlertThresholds {
  readonly latency_threshold_ms: number;
  readonly error_rate_threshold: number;
}

/** What a rule may look up besides the event itself. */
export interface AlertContext {
  readonly thresholds: AlertThresholds;
  /** The model's last `check` event before `event` (for request counts), or null. */
  lastCheckBefore(event: FramewormEvent): EventOf<'check'> | null;
}

/** One kind of alert: an event (narrowed by `matches`) and its default channels. */
export interface AlertRule {
  /** Stable name of the rule (`rollback`, `breach_streak_started`, …), for overrides and logs. */
  readonly id: string;
  readonly event: EventName;
  readonly channels: readonly AlertChannel[];
  matches(event: FramewormEvent): boolean;
  content(event: FramewormEvent, context: AlertContext): AlertContent;
}

/** A rule written against one event kind. */
export interface RuleSpec<K extends EventName> {
  readonly id: string;
  readonly event: K;
  readonly channels: readonly AlertChannel[];
  readonly when?: (event: EventOf<K>) => boolean;
  readonly content: (event: EventOf<K>, context: AlertContext) => AlertContent;
}

/**
 * Makes a rule from a spec typed for its event kind. `alert` events can never be a rule's
 * subject: an alert about an alert would loop.
 */
export function defineRule<K extends EventName>(spec: RuleSpec<K>): AlertRule {
  if ((spec.event as EventName) === 'alert') throw new Error(`alert rule ${spec.id}: alert events cannot raise alerts`);
  const is = (e: FramewormEvent): e is EventOf<K> => e.event === spec.event;
  return {
    id: spec.id,
    event: spec.event,
    channels: spec.channels,
    matches: (e) => is(e) && (spec.when === undefined || spec.when(e)),
    content: (e, ctx) => {
      if (!is(e)) throw new Error(`alert rule ${spec.id} applied to a ${e.event} event`);
      return spec.content(e, ctx);
    },
  };
}

/** Replaces the channels of the rules named in `overrides` (e.g. breach streaks to Slack too). */
export function withChannels(rules: readonly AlertRule[], overrides: Readonly<Record<string, readonly AlertChannel[]>>): AlertRule[] {
  return rules.map((r) => (overrides[r.id] === undefined ? r : { ...r, channels: overrides[r.id] ?? r.channels }));
}

const ms = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : `${Math.round(v)} ms`);
const pct = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : `${(v * 100).toFixed(1)} %`);
const orDash = (v: string | number | null | undefined): string => (v === null || v === undefined || v === '' ? '-' : String(v));

/** Fields shared by rollback and rollback_started: what was measured against what is allowed. */
function measurementFields(e: EventOf<'rollback'> | EventOf<'rollback_started'>, ctx: AlertContext): AlertField[] {
  const check = ctx.lastCheckBefore(e);
  return [
    { label: 'Model', value: e.model },
    { label: 'From', value: orDash(e.from_version) },
    { label: 'To', value: orDash(e.to_version) },
    { label: 'Reason', value: orDash(e.reason) },
    { label: 'p95 vs threshold', value: `${ms(e.p95_ms)} (threshold ${ms(ctx.thresholds.latency_threshold_ms)})` },
    { label: 'Error rate vs threshold', value: `${pct(e.error_rate)} (threshold ${pct(ctx.thresholds.error_rate_threshold)})` },
    { label: 'Streak', value: orDash(e.streak ?? check?.streak) },
    { label: 'Requests', value: orDash(check?.requests) },
    { label: 'Time', value: e.ts },
  ];
}

const rollbackRule = defineRule({
  id: 'rollback',
  event: 'rollback',
  channels: ['slack', 'log', 'tray'],
  content: (e, ctx) => {
    const from = orDash(e.from_version);
    const to = orDash(e.to_version);
    const fields = measurementFields(e, ctx);
    if (e.success) {
      return {
        title: `rolled back ${e.model} ${from} → ${to}`,
        summary: `${e.model} now serves ${to} instead of ${from}: ${e.reason}`,
        severity: 'warning',
        fields,
      };
    }
    return {
      title: `rollback of ${e.model} ${from} → ${to} failed`,
      summary: `${e.model} could not be rolled back (${e.reason})${e.error ? `: ${e.error}` : ''}; ${from} is still in production`,
      severity: 'critical',
      fields: [...fields, { label: 'Error', value: orDash(e.error) }],
    };
  },
});

const rollbackStartedRule = defineRule({
  id: 'rollback_started',
  event: 'rollback_started',
  channels: ['log', 'tray'],
  content: (e, ctx) => ({
    title: `rolling back ${e.model} ${orDash(e.from_version)} → ${orDash(e.to_version)}`,
    summary: `automatic rollback of ${e.model} started: ${e.reason}`,
    severity: 'warning',
    fields: measurementFields(e, ctx),
  }),
});

/** The first breach after a pass (or since the watch began): the start of a streak. */
const breachStreakRule = defineRule({
  id: 'breach_streak_started',
  event: 'check',
  channels: ['log', 'tray'],
  when: (e) => e.verdict === 'breach' && e.streak === 1,
  content: (e, ctx) => ({
    title: `${e.model} ${e.version} breached its thresholds`,
    summary: `check of ${e.model} ${e.version}: p95 ${ms(e.p95_ms)} (threshold ${ms(ctx.thresholds.latency_threshold_ms)}), error rate ${pct(e.error_rate)} (threshold ${pct(ctx.thresholds.error_rate_threshold)})`,
    severity: 'info',
    fields: [
      { label: 'Model', value: e.model },
      { label: 'Version', value: e.version },
      { label: 'p95 vs threshold', value: `${ms(e.p95_ms)} (threshold ${ms(ctx.thresholds.latency_threshold_ms)})` },
      { label: 'Error rate vs threshold', value: `${pct(e.error_rate)} (threshold ${pct(ctx.thresholds.error_rate_threshold)})` },
      { label: 'Requests', value: String(e.requests) },
      { label: 'Time', value: e.ts },
    ],
  }),
});

/** Consecutive drifted windows: goes the way rollback alerts go. */
const driftRule = defineRule({
  id: 'drift',
  event: 'drift',
  channels: ['slack', 'log', 'tray'],
  content: (e) => ({
    title: `${e.model} ${e.version}: ${e.severity} drift`,
    summary: `${e.consecutive} consecutive drifted windows of ${e.model} ${e.version} (${e.groups.join(', ') || 'no group named'})`,
    severity: e.severity === 'HIGH' ? 'critical' : 'warning',
    fields: [
      { label: 'Model', value: e.model },
      { label: 'Version', value: e.version },
      { label: 'Severity', value: e.severity },
      { label: 'Drifted groups', value: e.groups.join(', ') || '-' },
      { label: 'Windows in a row', value: String(e.consecutive) },
      { label: 'Time', value: e.ts },
    ],
  }),
});

/** The default rule table: Slack hears of rollbacks and drift; streak starts and rollback starts stay local. */
export const DEFAULT_ALERT_RULES: readonly AlertRule[] = [rollbackRule, rollbackStartedRule, breachStreakRule, driftRule];
