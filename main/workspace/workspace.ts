/**
 * The workspace: a FRAMEWORM project folder and the fixed layout of DESIGN §3 inside it.
 * Every path the control plane writes is derived here, so names that end up in paths are
 * validated here too.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import { CONFIG_RELATIVE_PATH, loadDeployConfig, type DeployConfig } from '../config/deploy-config.js';
import { makePrivateDir } from './private-files.js';

// One leading alphanumeric rules out '', '.', '..' and dot-files; no '/' or '\' anywhere rules
// out traversal; 64 characters keeps paths, container names and DB keys manageable.
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const NAME_RULE = '1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit';

// Names come from the command line (--name, --version, --shift), so a bad one is a usage error
// (exit 2), not a bad input file (exit 4).
function assertName(kind: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw new FramewormError('E_USAGE', `invalid ${kind} ${shown}: use ${NAME_RULE}`);
  }
}

/** Throws E_USAGE unless `name` is a safe model name (it becomes a folder and file name). */
export function assertModelName(name: unknown): asserts name is string {
  assertName('model name', name);
}

/** Throws E_USAGE unless `version` is a safe version string (it becomes a folder name). */
export function assertVersionName(version: unknown): asserts version is string {
  assertName('version', version);
}

/** Throws E_USAGE unless `profile` is a safe drift-profile name. */
export function assertProfileName(profile: unknown): asserts profile is string {
  assertName('shift profile name', profile);
}

/** Paths and config of one workspace folder. */
export class Workspace {
  private constructor(
    /** Absolute, symlink-resolved root folder. */
    readonly root: string,
    readonly config: DeployConfig,
    /** Warnings from loading the config file (empty when a config was passed in). */
    readonly configWarnings: readonly string[],
  ) {}

  /**
   * Opens a workspace on an existing folder. Without `config`, reads
   * `configs/deploy_config.yaml` (E_CONFIG when invalid). Missing root or a file → E_INPUT.
   */
  static open(root: string, config?: DeployConfig): Workspace {
    const abs = path.resolve(root);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(abs);
    } catch {
      throw new FramewormError('E_INPUT', `workspace ${abs} does not exist`);
    }
    if (!stat.isDirectory()) throw new FramewormError('E_INPUT', `workspace ${abs} is a file, not a folder`);
    // Canonical path so two processes opening the same folder through different symlinks
    // agree on the control directory and registry file.
    const real = fs.realpathSync(abs);
    if (config) return new Workspace(real, config, []);
    const loaded = loadDeployConfig(real);
    return new Workspace(real, loaded.config, loaded.warnings);
  }

  get configFile(): string {
    return path.join(this.root, CONFIG_RELATIVE_PATH);
  }

  /** `registry_path` from the config, relative to the root unless absolute. */
  get registryDir(): string {
    return path.resolve(this.root, this.config.registry_path);
  }

  get registryDb(): string {
    return path.join(this.registryDir, 'registry.db');
  }

  get exportsDir(): string {
    return path.join(this.root, 'experiments', 'deploy_exports');
  }

  /** `experiments/deploy_exports/<name>/<version>/`. */
  exportDir(name: string, version: string): string {
    assertModelName(name);
    assertVersionName(version);
    return path.join(this.exportsDir, name, version);
  }

  /** `log_path` from the config, relative to the root unless absolute. */
  get logsDir(): string {
    return path.resolve(this.root, this.config.log_path);
  }

  /** `<logsDir>/<name>.jsonl`. */
  logFile(name: string): string {
    assertModelName(name);
    return path.join(this.logsDir, `${name}.jsonl`);
  }

  get shiftProfilesDir(): string {
    return path.join(this.root, 'experiments', 'shift_profiles');
  }

  /** `experiments/shift_profiles/<profile>.json`. */
  shiftProfileFile(profile: string): string {
    assertProfileName(profile);
    return path.join(this.shiftProfilesDir, `${profile}.json`);
  }

  get generatedRootDir(): string {
    return path.join(this.root, 'deploy', 'generated');
  }

  /** `deploy/generated/<name>/`. */
  generatedDir(name: string): string {
    assertModelName(name);
    return path.join(this.generatedRootDir, name);
  }

  /** `.frameworm/`: the agent's pid, port and lock files. */
  get controlDir(): string {
    return path.join(this.root, '.frameworm');
  }

  /**
   * Creates the workspace's folders that do not exist yet (idempotent).
   *
   * What the control plane keeps (registry, exports, logs, profiles, `.frameworm/`) is created
   * owner-only (0700), `experiments/` included; `.frameworm/` is wholly ours and is narrowed
   * even when it exists. `deploy/generated/` is meant to be shipped and keeps the umask's mode.
   */
  ensureDirs(): void {
    for (const dir of [this.registryDir, this.exportsDir, this.logsDir, this.shiftProfilesDir]) makePrivateDir(dir);
    makePrivateDir(this.controlDir, { tighten: true });
    fs.mkdirSync(this.generatedRootDir, { recursive: true });
  }
}

const SHA_PATTERN = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Finds the git directory for `start` or a parent (handles `.git` files of worktrees). */
function findGitDir(start: string): string | null {
  let dir = path.resolve(start);
  for (;;) {
    const dotGit = path.join(dir, '.git');
    try {
      const stat = fs.statSync(dotGit);
      if (stat.isDirectory()) return dotGit;
      const pointer = readText(dotGit)?.match(/^gitdir:\s*(.+)$/m)?.[1];
      if (pointer) return path.resolve(dir, pointer.trim());
    } catch {
      // no .git here; keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function resolveRef(gitDir: string, ref: string): string | null {
  if (!ref.startsWith('refs/') || ref.split('/').includes('..')) return null;
  const common = readText(path.join(gitDir, 'commondir'));
  const dirs = common ? [gitDir, path.resolve(gitDir, common)] : [gitDir];
  for (const dir of dirs) {
    const loose = readText(path.join(dir, ref));
    if (loose && SHA_PATTERN.test(loose)) return loose;
  }
  for (const dir of dirs) {
    const packed = readText(path.join(dir, 'packed-refs'));
    for (const line of packed?.split('\n') ?? []) {
      const [sha, name] = line.trim().split(' ');
      if (name === ref && sha && SHA_PATTERN.test(sha)) return sha;
    }
  }
  return null;
}

/**
 * The HEAD commit of the git repository holding `root` (for lineage), or null when there is
 * none or HEAD is unborn. Reads the git files directly (fast, no git binary needed) and only
 * falls back to `git rev-parse HEAD` for layouts it does not understand (e.g. reftable).
 */
export function workspaceGitCommit(root: string): string | null {
  const gitDir = findGitDir(root);
  if (!gitDir) return null;
  const head = readText(path.join(gitDir, 'HEAD'));
  if (head && SHA_PATTERN.test(head)) return head;
  const ref = head?.match(/^ref:\s*(\S+)$/)?.[1];
  if (ref) {
    const sha = resolveRef(gitDir, ref);
    if (sha) return sha;
    // A branch with no commits yet has no ref file in the classic layout: unborn, not unknown.
    if (!fs.existsSync(path.join(gitDir, 'reftable'))) return null;
  }
  try {
    const out = execFileSync('git', ['rev-parse', '--verify', '--quiet', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 3000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return SHA_PATTERN.test(out) ? out : null;
  } catch {
    return null;
  }
}
