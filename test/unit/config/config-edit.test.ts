import { describe, expect, it } from 'vitest';
import { editDeployConfigText } from '../../../main/config/config-edit.js';

const FILE = `# team settings
deploy:
  # agreed after the March incident
  latency_threshold_ms: 250   # p95
  alert_on: [slack, log]
  slack_webhook_url: https://hooks.slack.com/services/T/B/x
`;

describe('editing configs/deploy_config.yaml', () => {
  it('changes the given keys in place and keeps every comment and other key', () => {
    const { text, loaded } = editDeployConfigText(FILE, { latency_threshold_ms: 180, rollback_checks: 4, alert_on: ['slack', 'log', 'tray'] });
    expect(text).toContain('# team settings');
    expect(text).toContain('# agreed after the March incident');
    expect(text).toContain("latency_threshold_ms: 180 # p95");
    expect(text).toContain('rollback_checks: 4');
    expect(text).toContain('alert_on: [ slack, log, tray ]');
    expect(text).toContain('slack_webhook_url: https://hooks.slack.com/services/T/B/x');
    expect(loaded.config).toMatchObject({ latency_threshold_ms: 180, rollback_checks: 4, alert_on: ['slack', 'log', 'tray'] });
  });

  it('an undefined value removes the key (back to its default)', () => {
    const { text, loaded } = editDeployConfigText(FILE, { slack_webhook_url: undefined });
    expect(text).not.toContain('slack_webhook_url');
    expect(loaded.config.slack_webhook_url).toBeNull();
  });

  it('starts a deploy: mapping when there is no file (or an empty one)', () => {
    for (const start of [null, '', '# nothing yet\n']) {
      const { text, loaded } = editDeployConfigText(start, { monitor_interval_s: 10 });
      expect(text).toBe('deploy:\n  monitor_interval_s: 10\n');
      expect(loaded.config.monitor_interval_s).toBe(10);
    }
  });

  it('refuses a value the schema refuses, naming the key and the accepted form', () => {
    expect(() => editDeployConfigText(FILE, { error_rate_threshold: 1.5 })).toThrow('deploy.error_rate_threshold must be a number from 0 to 1 (got 1.5)');
    expect(() => editDeployConfigText(FILE, { rollback_checks: 'three' })).toThrow(/deploy\.rollback_checks must be an integer from 1 to 1000 \(got "three"\)/);
    expect(() => editDeployConfigText('deploy: [unclosed', { rollback_checks: 2 })).toThrow(/cannot be parsed as YAML, so it cannot be edited/);
  });
});
