/**
 * Settings: the watcher's thresholds, interval, checks and alert channels as the control plane
 * has them (`config.get`), a draft the form edits, and saving through `config.set`, which the
 * control plane validates with the config schema (its message is shown as is). The Slack URL is
 * write-only: the store only knows whether one is set; a new one is sent, never read back.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { EditableSettings, SettingsChange, SettingsView } from '../../../preload/contract';
import { describeError, type RendererClient } from '../bridge/client-types';

/** The form's fields as typed (strings, so a half-typed number is not lost). */
export type SettingsDraft = { readonly [K in Exclude<keyof EditableSettings, 'alert_on'>]: string } & {
  readonly alert_on: readonly ('slack' | 'log' | 'tray')[];
};

export interface SettingsState {
  readonly view: SettingsView | null;
  readonly draft: SettingsDraft | null;
  /** A new webhook URL typed in (empty: leave it as it is). */
  readonly slackUrl: string;
  readonly saving: boolean;
  readonly testing: boolean;
  /** The last outcome, for a status line: saved / test sent, or the control plane's error. */
  readonly message: { readonly kind: 'ok' | 'error'; readonly text: string } | null;
  load(): Promise<void>;
  edit(patch: Partial<SettingsDraft>): void;
  setSlackUrl(url: string): void;
  /** Saves what differs from the settings in force (and a typed URL). */
  save(): Promise<void>;
  removeSlackUrl(): Promise<void>;
  sendTest(): Promise<void>;
}

export type SettingsStore = StoreApi<SettingsState>;

const NUMERIC: readonly Exclude<keyof EditableSettings, 'alert_on'>[] = [
  'latency_threshold_ms', 'error_rate_threshold', 'rollback_checks', 'monitor_interval_s', 'min_requests_per_check', 'cooldown_s',
];

function toDraft(s: EditableSettings): SettingsDraft {
  const out: Record<string, unknown> = { alert_on: [...s.alert_on] };
  for (const k of NUMERIC) out[k] = String(s[k]);
  return out as SettingsDraft;
}

/**
 * The changed settings of a draft. A field that is not a number is sent as typed, so the
 * control plane's schema names it ("must be a number > 0 (got "abc")") — one source of truth.
 */
export function draftChanges(view: SettingsView, draft: SettingsDraft): Partial<Record<keyof EditableSettings, unknown>> {
  const changes: Partial<Record<keyof EditableSettings, unknown>> = {};
  for (const k of NUMERIC) {
    const typed = draft[k].trim();
    const n = typed === '' ? NaN : Number(typed);
    const value = Number.isFinite(n) ? n : typed;
    if (value !== view.settings[k]) changes[k] = value;
  }
  const a = [...draft.alert_on].sort().join(',');
  if (a !== [...view.settings.alert_on].sort().join(',')) changes.alert_on = [...draft.alert_on];
  return changes;
}

/** Creates the settings store over a client. */
export function createSettingsStore(client: RendererClient): SettingsStore {
  return createStore<SettingsState>()((set, get) => {
    const apply = async (change: SettingsChange, done: string): Promise<void> => {
      set({ saving: true, message: null });
      try {
        const view = await client.invoke('config.set', change);
        set({ view, draft: toDraft(view.settings), slackUrl: '', saving: false, message: { kind: 'ok', text: done } });
      } catch (err) {
        set({ saving: false, message: { kind: 'error', text: describeError(err) } });
      }
    };
    return {
      view: null,
      draft: null,
      slackUrl: '',
      saving: false,
      testing: false,
      message: null,

      async load() {
        try {
          const view = await client.invoke('config.get', {});
          set({ view, draft: toDraft(view.settings) });
        } catch (err) {
          set({ message: { kind: 'error', text: `settings: ${describeError(err)}` } });
        }
      },

      edit(patch) {
        const draft = get().draft;
        if (draft) set({ draft: { ...draft, ...patch }, message: null });
      },

      setSlackUrl(url) {
        set({ slackUrl: url, message: null });
      },

      async save() {
        const { view, draft, slackUrl } = get();
        if (!view || !draft) return;
        const settings = draftChanges(view, draft);
        const url = slackUrl.trim();
        if (Object.keys(settings).length === 0 && url === '') {
          set({ message: { kind: 'ok', text: 'Nothing changed.' } });
          return;
        }
        await apply({ ...(Object.keys(settings).length > 0 ? { settings: settings as Partial<EditableSettings> } : {}), ...(url ? { slack_webhook_url: url } : {}) }, `Saved to ${view.file}; the watcher uses it from its next check.`);
      },

      async removeSlackUrl() {
        await apply({ slack_webhook_url: null }, 'Slack webhook URL removed.');
      },

      async sendTest() {
        set({ testing: true, message: null });
        try {
          const r = await client.invoke('alerts.test', {});
          set({ testing: false, message: { kind: 'ok', text: `Test message sent to Slack (${r.ms} ms).` } });
        } catch (err) {
          set({ testing: false, message: { kind: 'error', text: describeError(err) } });
        }
      },
    };
  });
}
