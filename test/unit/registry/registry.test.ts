import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import { Registry } from '../../../main/registry/registry.js';
import { fileText, makeRegistry, versionInput, type TestRegistry } from './helpers.js';

let t: TestRegistry;
beforeEach(() => {
  t = makeRegistry();
});
afterEach(() => t.cleanup());

function thrown(fn: () => unknown): FramewormError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FramewormError);
    return err as FramewormError;
  }
  throw new Error('expected an error');
}

/** Everything observable about model `m`: rows of all tables, and its JSONL file. */
function snapshot(name = 'm') {
  const r = t.registry;
  return {
    versions: r.listVersions(name),
    transitions: r.listTransitions(name),
    events: r.listEvents(name, 1000),
    jsonl: fileText(t.log.file(name)),
  };
}

describe('registerVersion', () => {
  it('creates the model, numbers versions v1, v2, … and fills lineage with nulls', () => {
    const v1 = t.registry.registerVersion(versionInput('m', { lineage: { checkpoint_sha256: 'a'.repeat(64), epoch: 3 } }));
    const v2 = t.registry.registerVersion(versionInput('m'));
    expect([v1.version, v2.version]).toEqual(['v1', 'v2']);
    expect(v1).toMatchObject({ name: 'm', stage: 'dev', type: 'vae', target: 'embedded', deployed_at: null, archived_at: null });
    expect(v1.lineage).toEqual({
      checkpoint_sha256: 'a'.repeat(64), artifact_hashes: {}, image_digest: null, git_commit: null, config_snapshot: null,
      dataset_checksum: null, training_metrics: null, epoch: 3, source_path: null, hyper_parameters: null,
    });
    expect(t.registry.listModels()).toEqual([expect.objectContaining({ name: 'm', production: null, versions: 2, target: 'embedded' })]);
    // The next automatic number follows the highest v<N>, whatever else exists.
    t.registry.registerVersion(versionInput('m', { version: 'v7' }));
    t.registry.registerVersion(versionInput('m', { version: 'release-2' }));
    expect(t.registry.registerVersion(versionInput('m')).version).toBe('v8');
  });

  it('refuses a duplicate version and leaves everything unchanged', () => {
    t.registry.registerVersion(versionInput('m'));
    const before = snapshot();
    const err = thrown(() => t.registry.registerVersion(versionInput('m', { version: 'v1' })));
    expect(err.code).toBe('E_CONFLICT');
    expect(err.message).toBe('model m already has version v1');
    expect(snapshot()).toEqual(before);
  });

  it('validates names, type, target and the starting stage', () => {
    expect(thrown(() => t.registry.registerVersion(versionInput('../x'))).code).toBe('E_USAGE');
    expect(thrown(() => t.registry.registerVersion(versionInput('m', { version: 'a/b' }))).code).toBe('E_USAGE');
    expect(thrown(() => t.registry.registerVersion(versionInput('m', { stage: 'production' }))).message).toMatch(/promote it afterwards/);
    expect(t.registry.listModels()).toEqual([]);
  });

  it('writes a register line to the JSONL log and the events table', () => {
    t.registry.registerVersion(versionInput('m', { actor: 'cli' }));
    const [line] = t.log.read('m');
    expect(Object.keys(line ?? {}).slice(0, 3)).toEqual(['ts', 'event', 'model']);
    expect(line).toMatchObject({ event: 'register', model: 'm', version: 'v1', stage: 'dev', type: 'vae', target: 'embedded', actor: 'cli' });
    expect(line?.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(t.registry.listEvents('m', 10)).toEqual([expect.objectContaining({ event: 'register', version: 'v1', ts: line?.ts })]);
  });
});

describe('promote', () => {
  it('archives the previous production version and records both transitions and events', () => {
    const r = t.registry;
    r.registerVersion(versionInput('m'));
    r.registerVersion(versionInput('m'));
    r.promote('m', 'v1', 'production', { actor: 'cli', reason: 'first' });
    const { version, archived } = r.promote('m', 'v2', 'production', { actor: 'cli', reason: 'better' });
    expect(version).toMatchObject({ version: 'v2', stage: 'production', archived_at: null });
    expect(version.deployed_at).not.toBeNull();
    expect(archived).toMatchObject({ version: 'v1', stage: 'archived' });
    expect(archived?.archived_at).toBe(version.deployed_at);
    expect(r.getProduction('m')?.version).toBe('v2');
    expect(r.listTransitions('m').slice(-2)).toEqual([
      expect.objectContaining({ version: 'v1', from_stage: 'production', to_stage: 'archived', reason: 'replaced by v2: better' }),
      expect.objectContaining({ version: 'v2', from_stage: 'dev', to_stage: 'production', reason: 'better' }),
    ]);
    const lines = t.log.read('m').slice(-2);
    expect(lines[0]).toMatchObject({ event: 'archive', version: 'v1', from_stage: 'production', to_stage: 'archived', replaced_by: 'v2' });
    expect(lines[1]).toMatchObject({ event: 'promote', version: 'v2', from_stage: 'dev', to_stage: 'production', actor: 'cli', reason: 'better', archived_version: 'v1' });
    expect(r.listEvents('m', 2).map((e) => e.event)).toEqual(['archive', 'promote']);
  });

  it('archives the previous production in the same transaction (a failure undoes both)', () => {
    const r = t.registry;
    r.registerVersion(versionInput('m'));
    r.registerVersion(versionInput('m'));
    r.promote('m', 'v1', 'production');
    // Make the second statement of the promotion fail after the archive has run.
    const raw = new Database(t.dbPath);
    raw.exec(`CREATE TRIGGER boom BEFORE UPDATE OF stage ON versions WHEN NEW.stage = 'production'
              BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    const before = snapshot();
    expect(() => r.promote('m', 'v2', 'production')).toThrow(/injected failure/);
    expect(snapshot()).toEqual(before);
    expect(r.getProduction('m')?.version).toBe('v1');
    raw.exec('DROP TRIGGER boom');
    raw.close();
  });

  it('fails on an unknown version or model, naming both, and changes nothing', () => {
    const r = t.registry;
    r.registerVersion(versionInput('m'));
    r.registerVersion(versionInput('m'));
    r.promote('m', 'v1', 'production');
    const before = snapshot();
    const err = thrown(() => r.promote('m', 'v9', 'production'));
    expect(err.code).toBe('E_NOT_FOUND');
    expect(err.message).toBe('model m has no version v9 (versions: v1, v2)');
    expect(snapshot()).toEqual(before);
    const noModel = thrown(() => r.promote('zz', 'v1', 'production'));
    expect(noModel.code).toBe('E_NOT_FOUND');
    expect(noModel.message).toBe('no model named zz in the registry (models: m)');
    expect(snapshot()).toEqual(before);
    expect(fs.existsSync(t.log.file('zz'))).toBe(false);
  });

  it('refuses promoting to the stage a version is already in', () => {
    t.registry.registerVersion(versionInput('m'));
    expect(thrown(() => t.registry.promote('m', 'v1', 'dev')).message).toBe('model m version v1 is already dev');
  });

  it('clears archived_at when an archived version goes back to staging', () => {
    const r = t.registry;
    r.registerVersion(versionInput('m'));
    expect(r.promote('m', 'v1', 'archived').version.archived_at).not.toBeNull();
    expect(r.promote('m', 'v1', 'staging').version).toMatchObject({ stage: 'staging', archived_at: null });
  });
});

describe('the database enforces one production version per model', () => {
  it('refuses a second production row even through raw SQL', () => {
    const r = t.registry;
    r.registerVersion(versionInput('m'));
    r.registerVersion(versionInput('m'));
    r.promote('m', 'v1', 'production');
    r.registerVersion(versionInput('other'));
    r.promote('other', 'v1', 'production'); // another model has its own production
    const raw = new Database(t.dbPath);
    try {
      expect(() => raw.prepare("UPDATE versions SET stage = 'production' WHERE version = 'v2'").run())
        .toThrow(/UNIQUE constraint failed/);
      const modelId = (raw.prepare("SELECT id FROM models WHERE name = 'm'").get() as { id: number }).id;
      expect(() => raw.prepare(
        `INSERT INTO versions (model_id, version, type, target, stage, created_at)
         VALUES (?, 'v3', 'vae', 'embedded', 'production', '2024-01-01T00:00:00.000Z')`,
      ).run(modelId)).toThrow(/UNIQUE constraint failed/);
      expect(() => raw.prepare("UPDATE versions SET stage = 'live' WHERE version = 'v2'").run()).toThrow(/CHECK constraint failed/);
    } finally {
      raw.close();
    }
    expect(r.listVersions('m').map((v) => v.stage)).toEqual(['production', 'dev']);
  });
});

describe('rollback', () => {
  function deployThree(): void {
    const r = t.registry;
    for (let i = 0; i < 3; i++) r.registerVersion(versionInput('m'));
    for (const v of ['v1', 'v2', 'v3']) r.promote('m', v, 'production');
  }

  it('brings back the most recently archived production version and records why', () => {
    deployThree();
    const linesBefore = t.log.read('m').length;
    expect(t.registry.rollbackTarget('m')?.version).toBe('v2');
    const { from, to } = t.registry.rollback('m', { reason: 'p95 over threshold', actor: 'watcher' });
    expect(from).toMatchObject({ version: 'v3', stage: 'archived' });
    expect(to).toMatchObject({ version: 'v2', stage: 'production', archived_at: null });
    expect(t.registry.listVersions('m').map((v) => [v.version, v.stage])).toEqual([
      ['v1', 'archived'], ['v2', 'production'], ['v3', 'archived'],
    ]);
    expect(t.registry.listTransitions('m').slice(-2)).toEqual([
      expect.objectContaining({ version: 'v3', from_stage: 'production', to_stage: 'archived', actor: 'watcher', reason: 'p95 over threshold' }),
      expect.objectContaining({ version: 'v2', from_stage: 'archived', to_stage: 'production', actor: 'watcher', reason: 'p95 over threshold' }),
    ]);
    // Without a caller's event a rollback writes no line; with one, the line commits with it.
    expect(t.log.read('m')).toHaveLength(linesBefore);
    t.registry.rollback('m', { reason: 'again', toVersion: 'v3' });
    t.registry.rollback('m', {
      reason: 'p95 over threshold',
      toVersion: 'v2',
      events: [{ event: 'rollback', fields: { from_version: 'v3', to_version: 'v2', reason: 'p95 over threshold', p95_ms: 2500.5, error_rate: 0.01, success: true } }],
    });
    const line = t.log.read('m').at(-1);
    expect(line && Object.keys(line)).toEqual(['ts', 'event', 'model', 'from_version', 'to_version', 'reason', 'p95_ms', 'error_rate', 'success', 'id']);
    expect(line).toMatchObject({ event: 'rollback', model: 'm', from_version: 'v3', to_version: 'v2', p95_ms: 2500.5, success: true });
    expect(t.registry.listEvents('m', 1)[0]).toMatchObject({ event: 'rollback', ts: line?.ts, fields: expect.objectContaining({ to_version: 'v2' }) });
  });

  it('rolls back to a named archived version, and refuses versions that cannot be rolled back to', () => {
    deployThree();
    t.registry.registerVersion(versionInput('m')); // v4, dev, never deployed
    expect(t.registry.rollback('m', { reason: 'r', toVersion: 'v1' }).to.version).toBe('v1');
    expect(thrown(() => t.registry.rollback('m', { reason: 'r', toVersion: 'v1' })).message).toMatch(/already production/);
    expect(thrown(() => t.registry.rollback('m', { reason: 'r', toVersion: 'v4' })).message)
      .toMatch(/only moves an archived version back to production \(this one is dev\)/);
    expect(thrown(() => t.registry.rollback('m', { reason: 'r', toVersion: 'v9' })).code).toBe('E_NOT_FOUND');
  });

  it('refuses clearly when there is nothing to roll back to', () => {
    const r = t.registry;
    r.registerVersion(versionInput('m'));
    r.registerVersion(versionInput('m'));
    r.promote('m', 'v2', 'archived'); // archived but never production: not a rollback target
    r.promote('m', 'v1', 'production');
    const before = snapshot();
    const err = thrown(() => r.rollback('m', { reason: 'bad' }));
    expect(err.code).toBe('E_CONFLICT');
    expect(err.message).toBe('nothing to roll back to: model m has no archived version that was in production before (production is v1)');
    expect(snapshot()).toEqual(before);
    expect(r.rollbackTarget('m')).toBeNull();
    expect(thrown(() => r.rollback('nope', { reason: 'x' })).code).toBe('E_NOT_FOUND');
  });

  it('works when nothing is in production (after a stop)', () => {
    deployThree();
    t.registry.promote('m', 'v3', 'archived', { reason: 'deploy stop' });
    const { from, to } = t.registry.rollback('m', { reason: 'restart' });
    expect(from).toBeNull();
    expect(to.version).toBe('v3');
  });
});

describe('events, endpoint, lineage and deletion', () => {
  it('recordEvent writes the DB row and then the JSONL line; unknown models get the line only', () => {
    t.registry.registerVersion(versionInput('m'));
    const line = t.registry.recordEvent('m', 'breach', { version: 'v1', p95_ms: 3000, ts: 'ignored' });
    expect(line.ts).not.toBe('ignored');
    expect(t.registry.listEvents('m', 1)[0]).toMatchObject({ event: 'breach', version: 'v1', fields: { version: 'v1', p95_ms: 3000, ts: 'ignored' } });
    t.registry.recordEvent('ghost', 'deploy_failed', { reason: 'x' });
    expect(t.log.read('ghost')).toEqual([expect.objectContaining({ event: 'deploy_failed', model: 'ghost' })]);
    expect(t.registry.getModel('ghost')).toBeNull();
  });

  it('keeps a committed change when the JSONL file cannot be written', () => {
    const errors: unknown[] = [];
    t.cleanup();
    t = makeRegistry({ onLogError: (e) => errors.push(e) });
    fs.writeFileSync(t.logsDir, 'not a folder');
    const v = t.registry.registerVersion(versionInput('m'));
    expect(v.version).toBe('v1');
    expect(errors).toHaveLength(1);
    // The register row commits with the change; the failure itself is on record too.
    expect(t.registry.listEvents('m', 5).map((e) => e.event)).toEqual(['register', 'event_log_error']);
    // Once the log is writable again, the next write appends everything it missed, once each, in order.
    fs.rmSync(t.logsDir);
    t.registry.promote('m', 'v1', 'production');
    const lines = t.log.read('m');
    expect(lines.map((l) => l.event)).toEqual(['register', 'event_log_error', 'promote']);
    expect(lines.map((l) => l['id'])).toEqual(t.registry.listEvents('m', 10).map((e) => e.id));
    t.registry.flushLog('m');
    expect(t.log.read('m')).toHaveLength(3);
  });

  it('sets endpoint, settings, image digest, lineage and artifacts', () => {
    const r = t.registry;
    r.registerVersion(versionInput('m', { target: 'docker', lineage: { git_commit: 'c'.repeat(40) } }));
    expect(r.setEndpoint('m', { port: 8001, target: 'docker' })).toMatchObject({ endpoint_port: 8001, target: 'docker' });
    expect(() => r.setEndpoint('m', { port: 70000, target: null })).toThrow(/port must be/);
    expect(r.setSettings('m', { replicas: 2 }).settings).toEqual({ replicas: 2 });
    expect(r.setImageDigest('m', 'v1', 'sha256:abc').lineage.image_digest).toBe('sha256:abc');
    const v = r.updateLineage('m', 'v1', { artifact_hashes: { 'model.onnx': 'f'.repeat(64) } });
    expect(v.lineage).toMatchObject({ git_commit: 'c'.repeat(40), image_digest: 'sha256:abc', artifact_hashes: { 'model.onnx': 'f'.repeat(64) } });
    // Hyper-parameters read from a checkpoint may hold bigints; they are stored as plain JSON.
    const hp = r.updateLineage('m', 'v1', { hyper_parameters: { latent_dim: 128n, nested: { a: [1, 2] } } }).lineage.hyper_parameters;
    expect(hp).toEqual({ latent_dim: 128, nested: { a: [1, 2] } });
    r.updateArtifacts('m', 'v1', { onnx: '/x/model.onnx' });
    expect(r.updateArtifacts('m', 'v1', { manifest: '/x/manifest.json' }).artifacts).toEqual({ onnx: '/x/model.onnx', manifest: '/x/manifest.json' });
    expect(r.requireModel('m').endpoint_port).toBe(8001);
    expect(thrown(() => r.requireModel('q')).code).toBe('E_NOT_FOUND');
    expect(r.getVersion('m', 'v9')).toBeNull();
    expect(r.getProduction('q')).toBeNull();
  });

  it('deletes only dev versions, and the model with its last version', () => {
    const r = t.registry;
    r.registerVersion(versionInput('m'));
    r.registerVersion(versionInput('m'));
    r.promote('m', 'v1', 'production');
    expect(thrown(() => r.deleteVersion('m', 'v1')).code).toBe('E_CONFLICT');
    expect(r.deleteVersion('m', 'v2')).toEqual({ modelDeleted: false });
    r.registerVersion(versionInput('solo'));
    expect(r.deleteVersion('solo', 'v1')).toEqual({ modelDeleted: true });
    expect(r.listModels().map((m) => m.name)).toEqual(['m']);
    // A later deploy under the same name starts over cleanly.
    expect(r.registerVersion(versionInput('solo')).version).toBe('v1');
  });

  it('survives reopening: everything is in the database file', () => {
    t.registry.registerVersion(versionInput('m'));
    t.registry.promote('m', 'v1', 'production');
    t.registry.close();
    const again = new Registry(t.dbPath, t.log);
    expect(again.getProduction('m')?.version).toBe('v1');
    again.close();
    expect(path.basename(t.dbPath)).toBe('registry.db');
  });
});
