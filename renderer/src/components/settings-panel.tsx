/**
 * Settings: the watcher's thresholds, interval and checks, the alert channels, and the Slack
 * webhook (write-only: only whether one is set is shown) with "send test". Saving goes through
 * the control plane, which validates with the config schema and writes the workspace's config
 * file; its message is shown as it is.
 */
import { useEffect, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { EditableSettings } from '../../../preload/contract';
import { useStores } from '../stores/app-stores';
import type { SettingsDraft } from '../stores/settings-store';

type NumericKey = Exclude<keyof EditableSettings, 'alert_on'>;

const FIELDS: readonly { key: NumericKey; label: string; hint: string; step: string }[] = [
  { key: 'latency_threshold_ms', label: 'Latency threshold (ms)', hint: 'a check breaches when p95 is above this', step: 'any' },
  { key: 'error_rate_threshold', label: 'Error-rate threshold (0–1)', hint: "breach when the error rate's 95 % lower bound is above this", step: 'any' },
  { key: 'rollback_checks', label: 'Breaches before rollback', hint: 'consecutive breached checks that roll back', step: '1' },
  { key: 'monitor_interval_s', label: 'Check interval (s)', hint: 'how often each production deployment is checked', step: 'any' },
  { key: 'min_requests_per_check', label: 'Requests per check', hint: 'fewer make a check inconclusive', step: '1' },
  { key: 'cooldown_s', label: 'Cooldown after rollback (s)', hint: 'no new rollback during it', step: 'any' },
];

const CHANNELS: readonly ('slack' | 'log' | 'tray')[] = ['slack', 'log', 'tray'];

export function SettingsPanel(): ReactNode {
  const { settings } = useStores();
  const view = useStore(settings, (s) => s.view);
  const draft = useStore(settings, (s) => s.draft);
  const slackUrl = useStore(settings, (s) => s.slackUrl);
  const saving = useStore(settings, (s) => s.saving);
  const testing = useStore(settings, (s) => s.testing);
  const message = useStore(settings, (s) => s.message);

  useEffect(() => {
    void settings.getState().load();
  }, [settings]);

  const edit = (patch: Partial<SettingsDraft>): void => settings.getState().edit(patch);

  return (
    <section className="settings" aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      {!view || !draft ? (
        <p className="muted">Loading settings…</p>
      ) : (
        <>
          <p className="muted">
            Stored in <code>{view.file}</code>; the watcher applies changes from its next check.
          </p>
          <form
            className="form card"
            aria-label="Watcher settings"
            onSubmit={(e) => {
              e.preventDefault();
              void settings.getState().save();
            }}
          >
            <h2>Watcher</h2>
            <fieldset>
              {FIELDS.map((f) => (
                <div key={f.key} className="setting">
                  <label>
                    {f.label}
                    <input type="number" step={f.step} value={draft[f.key]} aria-describedby={`hint-${f.key}`} onChange={(e) => edit({ [f.key]: e.target.value } as Partial<SettingsDraft>)} />
                  </label>
                  <span id={`hint-${f.key}`} className="muted small-text">
                    {f.hint}
                  </span>
                </div>
              ))}
            </fieldset>
            <fieldset aria-label="Alert channels">
              <legend className="muted">Alert channels</legend>
              {CHANNELS.map((c) => (
                <label key={c} className="chip">
                  <input
                    type="checkbox"
                    checked={draft.alert_on.includes(c)}
                    onChange={(e) => edit({ alert_on: e.target.checked ? [...draft.alert_on, c] : draft.alert_on.filter((x) => x !== c) })}
                  />{' '}
                  Alerts to {c}
                </label>
              ))}
            </fieldset>
            <h2>Slack</h2>
            <p>
              {view.slack_webhook_set
                ? `A webhook URL is set (${view.slack_webhook_source === 'env' ? 'from the FRAMEWORM_SLACK_WEBHOOK variable' : 'in the config file'}); it is never shown.`
                : 'No webhook URL is set: Slack alerts are not sent.'}
            </p>
            <label>
              New Slack webhook URL
              <input type="password" autoComplete="off" spellCheck={false} placeholder="https://hooks.slack.com/services/…" value={slackUrl} onChange={(e) => settings.getState().setSlackUrl(e.target.value)} />
            </label>
            <div className="row wrap">
              <button type="submit" className="primary" disabled={saving}>
                {saving ? 'Saving…' : 'Save settings'}
              </button>
              <button type="button" disabled={testing || !view.slack_webhook_set} onClick={() => void settings.getState().sendTest()}>
                {testing ? 'Sending…' : 'Send test message'}
              </button>
              {view.slack_webhook_source === 'config' ? (
                <button type="button" disabled={saving} onClick={() => void settings.getState().removeSlackUrl()}>
                  Remove webhook URL
                </button>
              ) : null}
            </div>
          </form>
        </>
      )}
      {message ? (
        <p role={message.kind === 'error' ? 'alert' : 'status'} className={message.kind === 'error' ? 'error' : 'ok-text'}>
          {message.text}
        </p>
      ) : null}
    </section>
  );
}
