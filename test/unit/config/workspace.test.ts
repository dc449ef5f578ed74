import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../main/config/deploy-config.js';
import {
  Workspace, assertModelName, assertVersionName, workspaceGitCommit,
} from '../../../main/workspace/workspace.js';

let dir: string;
beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'fw-ws-')));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('name validation', () => {
  it('accepts ordinary names and versions', () => {
    for (const ok of ['m', 'vae-mnist', 'My_Model.2', 'v1', '1.0.0-rc.1', 'a'.repeat(64)]) {
      expect(() => assertModelName(ok)).not.toThrow();
      expect(() => assertVersionName(ok)).not.toThrow();
    }
  });

  it('rejects anything that could leave its folder, and says what is allowed', () => {
    for (const bad of ['../x', 'a/b', 'a\\b', '', '.', '..', '.hidden', '-x', 'a b', 'a'.repeat(65), 'é', 'x\n']) {
      expect(() => assertModelName(bad), JSON.stringify(bad)).toThrow(/^invalid model name .*: use 1-64 characters from A-Z a-z 0-9 \. _ -, starting with a letter or digit$/);
      expect(() => assertVersionName(bad), JSON.stringify(bad)).toThrow(/^invalid version /);
      // Names come from the command line: a usage error (exit 2), not a bad input file (exit 4).
      expect(() => assertModelName(bad)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
      expect(() => assertVersionName(bad)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    }
  });
});

describe('Workspace', () => {
  it('lays out the DESIGN §3 paths under the root', () => {
    const ws = Workspace.open(dir);
    const at = (...p: string[]) => path.join(dir, ...p);
    expect(ws.root).toBe(dir);
    expect(ws.config).toEqual(DEFAULT_CONFIG);
    expect(ws.configFile).toBe(at('configs', 'deploy_config.yaml'));
    expect(ws.registryDir).toBe(at('experiments', 'model_registry'));
    expect(ws.registryDb).toBe(at('experiments', 'model_registry', 'registry.db'));
    expect(ws.exportsDir).toBe(at('experiments', 'deploy_exports'));
    expect(ws.exportDir('m', 'v1')).toBe(at('experiments', 'deploy_exports', 'm', 'v1'));
    expect(ws.logsDir).toBe(at('experiments', 'deploy_logs'));
    expect(ws.logFile('m')).toBe(at('experiments', 'deploy_logs', 'm.jsonl'));
    expect(ws.shiftProfilesDir).toBe(at('experiments', 'shift_profiles'));
    expect(ws.shiftProfileFile('ref')).toBe(at('experiments', 'shift_profiles', 'ref.json'));
    expect(ws.generatedDir('m')).toBe(at('deploy', 'generated', 'm'));
    expect(ws.controlDir).toBe(at('.frameworm'));
    expect(() => ws.exportDir('m', '../../etc')).toThrow(/invalid version/);
    expect(() => ws.generatedDir('../m')).toThrow(/invalid model name/);
  });

  it('takes registry_path and log_path from the config (relative or absolute)', () => {
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(path.join(dir, 'configs', 'deploy_config.yaml'), `deploy:\n  registry_path: reg\n  log_path: ${path.join(dir, 'abs-logs')}\n  oops: 1\n`);
    const ws = Workspace.open(dir);
    expect(ws.registryDb).toBe(path.join(dir, 'reg', 'registry.db'));
    expect(ws.logFile('m')).toBe(path.join(dir, 'abs-logs', 'm.jsonl'));
    expect(ws.configWarnings).toEqual(['configs/deploy_config.yaml: unknown key deploy.oops']);
    // A config passed in wins over the file.
    expect(Workspace.open(dir, DEFAULT_CONFIG).registryDir).toBe(path.join(dir, 'experiments', 'model_registry'));
  });

  it('creates its folders on demand', () => {
    const ws = Workspace.open(dir);
    expect(fs.existsSync(ws.registryDir)).toBe(false);
    ws.ensureDirs();
    ws.ensureDirs();
    for (const d of [ws.registryDir, ws.exportsDir, ws.logsDir, ws.shiftProfilesDir, path.dirname(ws.generatedDir('m')), ws.controlDir]) {
      expect(fs.statSync(d).isDirectory()).toBe(true);
    }
  });

  it('refuses a root that does not exist or is a file', () => {
    expect(() => Workspace.open(path.join(dir, 'nope'))).toThrow(expect.objectContaining({ code: 'E_INPUT', message: expect.stringMatching(/does not exist$/) }));
    fs.writeFileSync(path.join(dir, 'file'), '');
    expect(() => Workspace.open(path.join(dir, 'file'))).toThrow(expect.objectContaining({ code: 'E_INPUT', message: expect.stringMatching(/is a file, not a folder$/) }));
  });

  it('reports a bad config as E_CONFIG', () => {
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(path.join(dir, 'configs', 'deploy_config.yaml'), 'deploy:\n  rollback_checks: 0\n');
    expect(() => Workspace.open(dir)).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
  });
});

describe('workspaceGitCommit', () => {
  const sha = 'a'.repeat(40);

  it('is null outside a git repository', () => {
    expect(workspaceGitCommit(dir)).toBeNull();
  });

  it('reads a branch ref, a packed ref, a detached HEAD and an unborn branch', () => {
    const git = path.join(dir, '.git');
    fs.mkdirSync(path.join(git, 'refs', 'heads'), { recursive: true });
    fs.writeFileSync(path.join(git, 'HEAD'), 'ref: refs/heads/main\n');
    expect(workspaceGitCommit(dir)).toBeNull(); // unborn
    fs.writeFileSync(path.join(git, 'packed-refs'), `# pack-refs with: peeled\n${'b'.repeat(40)} refs/heads/main\n`);
    expect(workspaceGitCommit(dir)).toBe('b'.repeat(40));
    fs.writeFileSync(path.join(git, 'refs', 'heads', 'main'), `${sha}\n`);
    fs.mkdirSync(path.join(dir, 'sub', 'deeper'), { recursive: true });
    expect(workspaceGitCommit(path.join(dir, 'sub', 'deeper'))).toBe(sha);
    fs.writeFileSync(path.join(git, 'HEAD'), `${'c'.repeat(40)}\n`);
    expect(workspaceGitCommit(dir)).toBe('c'.repeat(40));
  });

  // git is a prerequisite of the suite (scripts/setup.sh): a missing git fails here, never passes.
  it('agrees with git itself', () => {
    const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
    const run = (...args: string[]) => execFileSync('git', args, { cwd: dir, env, encoding: 'utf8' }).trim();
    run('init', '-q');
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    run('add', 'f');
    run('commit', '-q', '-m', 'one');
    expect(workspaceGitCommit(dir)).toBe(run('rev-parse', 'HEAD'));
  });
});
