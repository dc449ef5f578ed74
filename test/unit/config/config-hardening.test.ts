/**
 * Issue 8, defects 11 and 13 and the config weak spots, at the parser: unknown keys at every
 * depth with the closest known key, host validation, hostile YAML (alias bombs, dangling
 * aliases, deep nesting, huge files) as E_CONFIG naming the file, and upper bounds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import {
  MAX_INFERENCE_WORKERS, configFileWarnings, isHostOrIp, loadDeployConfig, parseDeployConfig,
} from '../../../main/config/deploy-config.js';

const SRC = 'configs/deploy_config.yaml';

function configError(text: string): FramewormError {
  try {
    parseDeployConfig(text, SRC);
  } catch (err) {
    expect(err).toBeInstanceOf(FramewormError);
    expect((err as FramewormError).code).toBe('E_CONFIG');
    expect((err as FramewormError).exitCode).toBe(3);
    return err as FramewormError;
  }
  throw new Error(`expected an E_CONFIG error for:\n${text}`);
}

/** A "billion laughs" document: each level refers nine times to the one before. */
function aliasBomb(levels: number): string {
  const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < levels; i++) lines.push(`a${i}: &a${i} [${new Array(9).fill(`*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\ndeploy:\n  quantize: *a${levels - 1}\n`;
}

describe('unknown keys (defect 11)', () => {
  it('names every unknown key at any depth and the closest known key', () => {
    const { warnings } = parseDeployConfig(
      'deploy:\n  latency_threshhold_ms: 5\n  Host: 127.0.0.1\n  probe:\n    intervl_s: 3\n  interval_s: 4\n  zzzz: 1\n',
      SRC,
    );
    expect(warnings).toEqual([
      `${SRC}: unknown key deploy.latency_threshhold_ms (did you mean latency_threshold_ms?)`,
      `${SRC}: unknown key deploy.Host (did you mean host?)`,
      `${SRC}: unknown key deploy.probe.intervl_s (did you mean interval_s?)`,
      // A key of a nested mapping written one level too high is pointed to where it belongs.
      `${SRC}: unknown key deploy.interval_s (did you mean probe.interval_s?)`,
      `${SRC}: unknown key deploy.zzzz`,
    ]);
  });

  describe('configFileWarnings', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-config-warn-'));
      fs.mkdirSync(path.join(dir, 'configs'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('reports the typos of a file whose values are invalid too (the typo may be why)', () => {
      fs.writeFileSync(path.join(dir, SRC), 'deploy:\n  rollback_check: 2\n  rollback_checks: 0\n');
      expect(() => loadDeployConfig(dir)).toThrow(/rollback_checks must be/);
      expect(configFileWarnings(dir)).toEqual([`${SRC}: unknown key deploy.rollback_check (did you mean rollback_checks?)`]);
    });

    it('is empty for a missing or unparseable file (the command reports that as its error)', () => {
      expect(configFileWarnings(path.join(dir, 'nowhere'))).toEqual([]);
      fs.writeFileSync(path.join(dir, SRC), 'deploy:\n  quantize: [true\n');
      expect(configFileWarnings(dir)).toEqual([]);
    });
  });
});

describe('host (defect 13)', () => {
  it('accepts IP literals and RFC 1123 host names', () => {
    for (const ok of ['127.0.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'localhost', 'my-host', 'node-1.example.com', 'example.com.', '1host', 'a'.repeat(63)]) {
      expect(isHostOrIp(ok), ok).toBe(true);
      expect(parseDeployConfig(`deploy:\n  host: "${ok}"\n`, SRC).config.host).toBe(ok);
    }
  });

  it('refuses anything else, naming the key and the accepted form', () => {
    for (const bad of ['not a host;rm', 'host;rm -rf /', '-lead', 'trail-', 'a..b', '.', '999.1.1.1', '1.2.3', 'http://x', 'host:80', '[::1]', 'a_b', 'é.com', 'a'.repeat(64), `${'a.'.repeat(127)}a`]) {
      expect(isHostOrIp(bad), bad).toBe(false);
      expect(configError(`deploy:\n  host: "${bad}"\n`).message).toBe(
        `${SRC}: deploy.host must be an IP address (e.g. 127.0.0.1, ::1) or a host name of dot-separated labels of letters, digits and '-' (got ${JSON.stringify(bad).length > 60 ? `${JSON.stringify(bad).slice(0, 57)}...` : JSON.stringify(bad)})`,
      );
    }
  });
});

describe('hostile YAML is E_CONFIG naming the file (defect 13)', () => {
  it('an alias bomb ("billion laughs") is refused before it expands', () => {
    expect(configError(aliasBomb(9)).message).toBe(
      `${SRC}: YAML aliases expand too far (more than 100 alias uses; a "billion laughs" document?); write the values out instead`,
    );
  });

  it('a few ordinary aliases are still fine', () => {
    const { config } = parseDeployConfig('defaults: &d [onnx]\ndeploy:\n  export_format: *d\n', SRC);
    expect(config.export_format).toEqual(['onnx']);
  });

  it('an alias to an anchor that does not exist names the line and column', () => {
    expect(configError('deploy:\n  quantize: false\n  cooldown_s: *nope\n').message).toMatch(/^configs\/deploy_config\.yaml:3:15: YAML error: Unresolved alias/);
  });

  it('syntax errors, tabs and nesting too deep for the parser name the line', () => {
    expect(configError('deploy:\n\tquantize: true\n').message).toMatch(/^configs\/deploy_config\.yaml:2:\d+: YAML syntax error: /);
    expect(configError('deploy: {a: 1\n').message).toMatch(/^configs\/deploy_config\.yaml:\d+:\d+: YAML syntax error: /);
    expect(configError(`deploy:\n  x: ${'['.repeat(20_000)}\n`).message).toMatch(/^configs\/deploy_config\.yaml(:\d+:\d+)?: YAML (syntax )?error/);
  });

  describe('the file itself', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-config-file-'));
      fs.mkdirSync(path.join(dir, 'configs'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('a file larger than any real config is refused unread', () => {
      fs.writeFileSync(path.join(dir, SRC), `deploy:\n  quantize: false\n${'#'.repeat(2 * 1024 * 1024)}\n`);
      expect(() => loadDeployConfig(dir)).toThrow(expect.objectContaining({ code: 'E_CONFIG', message: expect.stringMatching(/^configs\/deploy_config\.yaml is \d+ bytes; a deploy config is at most 1048576 bytes$/) }));
    });
  });
});

describe('upper bounds (weak spots)', () => {
  const cases: ReadonlyArray<readonly [string, RegExp]> = [
    [`inference_workers: ${MAX_INFERENCE_WORKERS + 1}`, /deploy\.inference_workers must be an integer from 1 to 64, or null for min\(2, available cores\) \(got 65\)/],
    ['inference_workers: 100000', /deploy\.inference_workers must be an integer from 1 to 64/],
    ['inference_threads: 1000', /deploy\.inference_threads must be an integer from 1 to 64 \(got 1000\)/],
    // setTimeout turns a delay above 2^31-1 ms into 1 ms: every timer stays far below.
    ['request_timeout_ms: 3000000000', /deploy\.request_timeout_ms must be a number > 0 and at most 86400000 \(one day\) \(got 3000000000\)/],
    ['container_ready_timeout_s: 3000000', /deploy\.container_ready_timeout_s must be a number > 0 and at most 86400/],
    ['monitor_interval_s: 100000', /deploy\.monitor_interval_s must be a number > 0 and at most 86400/],
    ['metrics_window_s: 100000', /deploy\.metrics_window_s must be a number > 0 and at most 86400/],
    ['probe: {interval_s: 100000}', /deploy\.probe\.interval_s must be a number > 0 and at most 86400/],
    ['cooldown_s: 1e9', /deploy\.cooldown_s must be a number from 0 to 604800/],
    ['max_body_bytes: 10000000000', /deploy\.max_body_bytes must be an integer from 1 to 268435456 \(256 MiB\)/],
    ['max_batch_size: 1000000', /deploy\.max_batch_size must be an integer from 1 to 65536/],
    ['container_memory_mb: 99999999', /deploy\.container_memory_mb must be an integer from 64 to 1048576/],
    ['rollback_checks: 5000', /deploy\.rollback_checks must be an integer from 1 to 1000/],
  ];
  for (const [line, pattern] of cases) {
    it(line, () => {
      expect(configError(`deploy:\n  ${line}\n`).message).toMatch(pattern);
    });
  }

  it('the largest accepted values load', () => {
    const { config } = parseDeployConfig(
      'deploy:\n  inference_workers: 64\n  inference_threads: 64\n  request_timeout_ms: 86400000\n  max_body_bytes: 268435456\n  max_batch_size: 65536\n  cooldown_s: 604800\n',
      SRC,
    );
    expect(config).toMatchObject({ inference_workers: 64, inference_threads: 64, request_timeout_ms: 86_400_000, max_body_bytes: 268_435_456, max_batch_size: 65_536, cooldown_s: 604_800 });
  });
});
