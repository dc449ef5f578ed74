import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import {
  DEFAULT_CONFIG, configSnapshot, loadDeployConfig, parseDeployConfig,
} from '../../../main/config/deploy-config.js';

const SRC = 'configs/deploy_config.yaml';
const HOST_FORM = "an IP address (e.g. 127.0.0.1, ::1) or a host name of dot-separated labels of letters, digits and '-'";

function configError(text: string): FramewormError {
  try {
    parseDeployConfig(text, SRC);
  } catch (err) {
    expect(err).toBeInstanceOf(FramewormError);
    expect((err as FramewormError).code).toBe('E_CONFIG');
    return err as FramewormError;
  }
  throw new Error(`expected an E_CONFIG error for:\n${text}`);
}

describe('defaults', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-config-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a missing file gives every DESIGN default', () => {
    const { config, warnings } = loadDeployConfig(dir);
    expect(warnings).toEqual([]);
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(config).toMatchObject({
      export_format: ['torchscript', 'onnx'], quantize: false, latency_threshold_ms: 2000, error_rate_threshold: 0.1,
      rollback_checks: 3, monitor_interval_s: 30, alert_on: ['slack', 'log'], log_path: 'experiments/deploy_logs',
      registry_path: 'experiments/model_registry', slack_webhook_url: null, cooldown_s: 300, min_requests_per_check: 20,
      probe: { enabled: false, interval_s: 10 }, host: '127.0.0.1', port_range_start: 8000,
      docker_base_image: 'python:3.11-slim-bookworm', docker_socket: null, server_runtime: 'onnxruntime', container_ready_timeout_s: 180, container_memory_mb: 2048, swarm_replicas: 2,
      python_path: null, max_body_bytes: 10485760,
      request_timeout_ms: 30000, max_batch_size: 64, batching: { enabled: true, max_rows: 64, max_delay_ms: 2 }, inference_threads: 1, inference_workers: null, metrics_window_s: 60, default_stage: 'production',
    });
    expect(Object.isFrozen(config.alert_on)).toBe(true);
  });

  it('reads the file from configs/ and applies defaults for keys not given', () => {
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(path.join(dir, 'configs', 'deploy_config.yaml'), 'deploy:\n  latency_threshold_ms: 500\n  probe:\n    enabled: true\n');
    const { config } = loadDeployConfig(dir);
    expect(config.latency_threshold_ms).toBe(500);
    expect(config.probe).toEqual({ enabled: true, interval_s: 10 });
    expect(config.rollback_checks).toBe(3);
  });

  it('a config path that is a folder is an error', () => {
    fs.mkdirSync(path.join(dir, 'configs', 'deploy_config.yaml'), { recursive: true });
    expect(() => loadDeployConfig(dir)).toThrow(/configs\/deploy_config.yaml is a folder/);
  });

  it('an empty file or an empty deploy: section means defaults', () => {
    expect(parseDeployConfig('# nothing yet\n', SRC).config).toEqual(DEFAULT_CONFIG);
    expect(parseDeployConfig('deploy:\n', SRC).config).toEqual(DEFAULT_CONFIG);
  });
});

describe('bad values name the key and the accepted form', () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['latency_threshold_ms: fast', 'deploy.latency_threshold_ms must be a number > 0 (got "fast")'],
    ['latency_threshold_ms: 0', 'deploy.latency_threshold_ms must be a number > 0 (got 0)'],
    ['latency_threshold_ms: .inf', 'deploy.latency_threshold_ms must be a number > 0 (got Infinity)'],
    ['export_format: [onnx, tflite]', 'deploy.export_format[1] must be one of torchscript, onnx (got "tflite")'],
    ['export_format: []', 'deploy.export_format must be a non-empty list of torchscript, onnx (got [])'],
    ['export_format: onnx', 'deploy.export_format must be a non-empty list of torchscript, onnx (got "onnx")'],
    ['quantize: "yes"', 'deploy.quantize must be true or false (got "yes")'],
    ['error_rate_threshold: 1.5', 'deploy.error_rate_threshold must be a number from 0 to 1 (got 1.5)'],
    ['error_rate_threshold: -0.1', 'deploy.error_rate_threshold must be a number from 0 to 1 (got -0.1)'],
    ['rollback_checks: 2.5', 'deploy.rollback_checks must be an integer from 1 to 1000 (got 2.5)'],
    ['rollback_checks: 0', 'deploy.rollback_checks must be an integer from 1 to 1000 (got 0)'],
    ['monitor_interval_s: -1', 'deploy.monitor_interval_s must be a number > 0 and at most 86400 (one day) (got -1)'],
    ['alert_on: [slack, email]', 'deploy.alert_on[1] must be one of slack, log, tray (got "email")'],
    ['alert_on: slack', 'deploy.alert_on must be a list of slack, log, tray (got "slack")'],
    ['log_path: ""', 'deploy.log_path must be a non-empty path string (got "")'],
    ['registry_path: 12', 'deploy.registry_path must be a non-empty path string (got 12)'],
    ['slack_webhook_url: ftp://x', 'deploy.slack_webhook_url must be an http(s) URL or null (got "ftp://x")'],
    ['slack_webhook_url: not a url', 'deploy.slack_webhook_url must be an http(s) URL or null (got "not a url")'],
    ['cooldown_s: -5', 'deploy.cooldown_s must be a number from 0 to 604800 (one week) (got -5)'],
    ['min_requests_per_check: 0', 'deploy.min_requests_per_check must be an integer from 1 to 1000000 (got 0)'],
    ['probe: true', 'deploy.probe must be a mapping with enabled (true/false) and interval_s (number > 0) (got true)'],
    ['probe: {enabled: 1}', 'deploy.probe.enabled must be true or false (got 1)'],
    ['probe: {interval_s: 0}', 'deploy.probe.interval_s must be a number > 0 and at most 86400 (one day) (got 0)'],
    ['batching: on', 'deploy.batching must be a mapping with enabled (true/false), max_rows (integer) and max_delay_ms (number) (got "on")'],
    ['batching: {enabled: yes please}', 'deploy.batching.enabled must be true or false (got "yes please")'],
    ['batching: {max_rows: 0}', 'deploy.batching.max_rows must be an integer from 1 to 4096 (rows per model call) (got 0)'],
    ['batching: {max_rows: 2.5}', 'deploy.batching.max_rows must be an integer from 1 to 4096 (rows per model call) (got 2.5)'],
    ['batching: {max_delay_ms: -1}', 'deploy.batching.max_delay_ms must be a number from 0 to 1000 (ms a request may wait to share a model call) (got -1)'],
    ['host: ""', `deploy.host must be ${HOST_FORM} (got "")`],
    ['port_range_start: 70000', 'deploy.port_range_start must be an integer from 1 to 65535 (got 70000)'],
    ['docker_base_image: [python]', `deploy.docker_base_image must be a non-empty image reference, or 'offline' to build one from Debian packages (got ["python"])`],
    ['docker_socket: ""', 'deploy.docker_socket must be a path to the Docker daemon socket, or null (DOCKER_HOST, else /var/run/docker.sock) (got "")'],
    ['server_runtime: tensorflow', 'deploy.server_runtime must be one of onnxruntime, torch (got "tensorflow")'],
    ['container_ready_timeout_s: 0', 'deploy.container_ready_timeout_s must be a number > 0 and at most 86400 (one day) (got 0)'],
    ['container_memory_mb: 32', 'deploy.container_memory_mb must be an integer from 64 to 1048576 (got 32)'],
    ['swarm_replicas: 0', 'deploy.swarm_replicas must be an integer from 1 to 32 (replicas of a version on the swarm target) (got 0)'],
    ['python_path: 3', 'deploy.python_path must be a non-empty path string or null (got 3)'],
    ['max_body_bytes: 1.5', 'deploy.max_body_bytes must be an integer from 1 to 268435456 (256 MiB) (got 1.5)'],
    ['request_timeout_ms: 0', 'deploy.request_timeout_ms must be a number > 0 and at most 86400000 (one day) (got 0)'],
    ['max_batch_size: 0', 'deploy.max_batch_size must be an integer from 1 to 65536 (got 0)'],
    ['inference_threads: many', 'deploy.inference_threads must be an integer from 1 to 64 (got "many")'],
    ['inference_workers: 0', 'deploy.inference_workers must be an integer from 1 to 64, or null for min(2, available cores) (got 0)'],
    ['metrics_window_s: null', 'deploy.metrics_window_s must be a number > 0 and at most 86400 (one day) (got null)'],
    ['default_stage: dev', 'deploy.default_stage must be one of production, staging (got "dev")'],
    ['default_stage: prod', 'deploy.default_stage must be one of production, staging (got "prod")'],
  ];
  for (const [line, message] of cases) {
    it(line, () => {
      expect(configError(`deploy:\n  ${line}\n`).message).toBe(`${SRC}: ${message}`);
    });
  }

  it('reports every bad key, first one in front', () => {
    const err = configError('deploy:\n  quantize: 1\n  rollback_checks: x\n');
    expect(err.message).toBe(`${SRC}: deploy.quantize must be true or false (got 1); deploy.rollback_checks must be an integer from 1 to 1000 (got "x")`);
    expect(err.detail).toEqual({ problems: [expect.stringContaining('quantize'), expect.stringContaining('rollback_checks')] });
  });
});

describe('file structure', () => {
  it('YAML syntax errors give line:col', () => {
    expect(configError('deploy:\n  quantize: [true\n').message).toMatch(/^configs\/deploy_config.yaml:\d+:\d+: YAML syntax error: /);
    expect(configError('deploy:\n  a: 1\n a: 2\n').message).toMatch(/^configs\/deploy_config.yaml:3:\d+: YAML syntax error/);
    expect(configError('deploy:\n  quantize: true\n  quantize: false\n').message).toMatch(/^configs\/deploy_config.yaml:3:3: YAML syntax error: Map keys must be unique/);
  });

  it('a root that is not a mapping, or lacks deploy:, is an error', () => {
    expect(configError('- a\n- b\n').message).toBe(`${SRC}: the file must be a mapping with a root key deploy: (got ["a","b"])`);
    expect(configError('latency_threshold_ms: 5\n').message).toMatch(/the root key deploy: is missing/);
    expect(configError('deploy: 5\n').message).toBe(`${SRC}: deploy must be a mapping of settings (got 5)`);
  });

  it('unknown keys are warnings, with a suggestion for typos', () => {
    const { config, warnings } = parseDeployConfig('deploy:\n  latency_treshold_ms: 5\n  colour: blue\n  probe: {enable: true}\nextra: 1\n', SRC);
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(warnings).toEqual([
      `${SRC}: unknown root key extra (settings live under deploy:)`,
      `${SRC}: unknown key deploy.latency_treshold_ms (did you mean latency_threshold_ms?)`,
      `${SRC}: unknown key deploy.colour`,
      `${SRC}: unknown key deploy.probe.enable (did you mean enabled?)`,
    ]);
  });

  it('a valid full file round-trips', () => {
    const full = {
      export_format: ['onnx'], quantize: true, latency_threshold_ms: 150.5, error_rate_threshold: 0, rollback_checks: 5,
      monitor_interval_s: 0.5, alert_on: ['tray', 'log'], log_path: '/var/log/fw', registry_path: 'reg',
      slack_webhook_url: 'https://hooks.slack.com/services/T/B/X', cooldown_s: 0, warm_standby: false, min_requests_per_check: 5, probe: { enabled: true, interval_s: 2 },
      host: '0.0.0.0', port_range_start: 9100, docker_base_image: 'local/python:3.11', docker_socket: '/run/user/1000/docker.sock', server_runtime: 'torch',
      container_ready_timeout_s: 30, container_memory_mb: 512, swarm_replicas: 3, python_path: '/usr/bin/python3',
      max_body_bytes: 1024, max_connections: 64, max_upload_bytes: 4096, request_timeout_ms: 1000, max_batch_size: 8, batching: { enabled: false, max_rows: 16, max_delay_ms: 0.5 }, inference_threads: 4, inference_workers: 3, metrics_window_s: 120,
      default_stage: 'staging',
      drift_enabled: false, drift_sample_rate: 0.25, drift_max_samples_per_s: 5, drift_window: 500, drift_reference_size: 1000, drift_alpha: 0.01, drift_permutations: 999, rollback_on_drift: true,
    };
    const yamlText = `deploy:\n${Object.entries(full).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n')}\n`;
    const { config, warnings } = parseDeployConfig(yamlText, SRC);
    expect(warnings).toEqual([]);
    expect(config).toEqual(full);
  });
});

describe('configSnapshot', () => {
  it('is plain JSON of the config with the Slack webhook secret redacted', () => {
    const { config } = parseDeployConfig('deploy:\n  slack_webhook_url: https://hooks.slack.com/services/SECRET\n', SRC);
    const snap = configSnapshot(config);
    expect(JSON.stringify(snap)).not.toContain('SECRET');
    expect(snap['slack_webhook_url']).toBe('<redacted>');
    expect(snap['latency_threshold_ms']).toBe(2000);
    expect(configSnapshot(DEFAULT_CONFIG)['slack_webhook_url']).toBeNull();
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
  });
});
