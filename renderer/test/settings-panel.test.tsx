import { act, fireEvent, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/app';
import { ClientError } from '../src/bridge/client-types';
import { SettingsPanel } from '../src/components/settings-panel';
import { draftChanges } from '../src/stores/settings-store';
import { FakeControlPlane } from './fake-control-plane';
import { renderWith } from './render-app';

async function flush(): Promise<void> {
  await act(async () => {
    await new Promise((r) => setTimeout(r, 0));
  });
}

describe('settings', () => {
  it('shows the settings in force and that a Slack URL is set, never the URL itself', async () => {
    const cp = new FakeControlPlane();
    renderWith(cp, <SettingsPanel />);
    await flush();
    expect((screen.getByLabelText('Latency threshold (ms)') as HTMLInputElement).value).toBe('250');
    expect((screen.getByLabelText('Breaches before rollback') as HTMLInputElement).value).toBe('3');
    expect((screen.getByRole('checkbox', { name: 'Alerts to slack' }) as HTMLInputElement).checked).toBe(true);
    expect((screen.getByRole('checkbox', { name: 'Alerts to tray' }) as HTMLInputElement).checked).toBe(false);
    expect(screen.getByText(/A webhook URL is set \(in the config file\); it is never shown\./)).toBeTruthy();
    expect((screen.getByLabelText('New Slack webhook URL') as HTMLInputElement).value).toBe('');
    expect((screen.getByLabelText('New Slack webhook URL') as HTMLInputElement).type).toBe('password');
  });

  it('saves only what changed (a typed URL too), and says where it went', async () => {
    const cp = new FakeControlPlane();
    renderWith(cp, <SettingsPanel />);
    await flush();
    fireEvent.change(screen.getByLabelText('Latency threshold (ms)'), { target: { value: '180' } });
    fireEvent.click(screen.getByRole('checkbox', { name: 'Alerts to tray' }));
    fireEvent.change(screen.getByLabelText('New Slack webhook URL'), { target: { value: ' https://hooks.slack.com/services/T/B/x ' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save settings' }));
    await flush();
    expect(cp.callsOf('config.set')).toEqual([{ settings: { latency_threshold_ms: 180, alert_on: ['slack', 'log', 'tray'] }, slack_webhook_url: 'https://hooks.slack.com/services/T/B/x' }]);
    expect(screen.getByRole('status').textContent).toBe('Saved to configs/deploy_config.yaml; the watcher uses it from its next check.');
    expect((screen.getByLabelText('New Slack webhook URL') as HTMLInputElement).value).toBe('');
  });

  it("shows the config schema's refusal as it is", async () => {
    const cp = new FakeControlPlane();
    cp.configError = new ClientError({ code: 'E_CONFIG', message: 'configs/deploy_config.yaml: deploy.error_rate_threshold must be a number from 0 to 1 (got 2)' });
    renderWith(cp, <SettingsPanel />);
    await flush();
    fireEvent.change(screen.getByLabelText('Error-rate threshold (0–1)'), { target: { value: '2' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save settings' }));
    await flush();
    expect(screen.getByRole('alert').textContent).toBe('configs/deploy_config.yaml: deploy.error_rate_threshold must be a number from 0 to 1 (got 2) (E_CONFIG)');
  });

  it('a value that is not a number goes to the schema as typed, so its message names it', () => {
    const view = new FakeControlPlane().settings;
    const draft = { latency_threshold_ms: 'abc', error_rate_threshold: '0.05', rollback_checks: '3', monitor_interval_s: '5', min_requests_per_check: '20', cooldown_s: '300', alert_on: ['log', 'slack'] as const };
    expect(draftChanges(view, { ...draft, alert_on: [...draft.alert_on] })).toEqual({ latency_threshold_ms: 'abc' });
  });

  it('"send test" reports Slack\'s answer: sent, or the error (429)', async () => {
    const cp = new FakeControlPlane();
    renderWith(cp, <SettingsPanel />);
    await flush();
    fireEvent.click(screen.getByRole('button', { name: 'Send test message' }));
    await flush();
    expect(screen.getByRole('status').textContent).toBe('Test message sent to Slack (42 ms).');
    cp.alertTestError = new ClientError({ code: 'E_RUNTIME', message: 'Slack rate-limited the test message (HTTP 429); try again in 7 s' });
    fireEvent.click(screen.getByRole('button', { name: 'Send test message' }));
    await flush();
    expect(screen.getByRole('alert').textContent).toBe('Slack rate-limited the test message (HTTP 429); try again in 7 s (E_RUNTIME)');
  });

  it('without a URL, "send test" is disabled and the panel says alerts do not go to Slack', async () => {
    const cp = new FakeControlPlane();
    cp.settings = { ...cp.settings, slack_webhook_set: false, slack_webhook_source: null };
    renderWith(cp, <SettingsPanel />);
    await flush();
    expect(screen.getByText('No webhook URL is set: Slack alerts are not sent.')).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Send test message' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.queryByRole('button', { name: 'Remove webhook URL' })).toBeNull();
  });

  it('the header opens Settings and the engine banner shows while Docker does not answer', async () => {
    const cp = new FakeControlPlane();
    cp.engine = { reachable: false, socket: '/var/run/docker.sock', version: null, error: 'Docker daemon not running (socket /var/run/docker.sock missing)' };
    const { stores } = renderWith(cp, <App />);
    await act(async () => {
      await stores.engine.getState().refresh();
    });
    expect(screen.getAllByRole('status').some((el) => /^Docker engine unreachable \(\/var\/run\/docker\.sock\)/.test(el.textContent ?? ''))).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    await flush();
    expect(screen.getByRole('heading', { name: 'Settings', level: 1 })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Settings' }).getAttribute('aria-pressed')).toBe('true');
    cp.engine = { reachable: true, socket: '/var/run/docker.sock', version: '26.1.5', error: null };
    fireEvent.click(screen.getByRole('button', { name: 'Check Docker again' }));
    await flush();
    expect(screen.queryByText(/Docker engine unreachable/)).toBeNull();
  });
});
