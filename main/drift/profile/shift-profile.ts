/**
 * Drift reference profiles: `experiments/shift_profiles/<name>.json` (DESIGN §3).
 *
 * A profile keeps raw reference rows per feature group (a seeded reservoir of at most
 * `reference_size` rows each), not histograms, so the live tests can run on samples. It records
 * the schema version, the architecture, the side the data described, the embedding encoder and
 * every group's feature names, so a profile that does not fit a model or a data set is refused
 * with the mismatch named instead of producing a meaningless verdict.
 *
 * ```json
 * { "schema_version": 1, "name": "faces", "architecture": "dcgan", "side": "outputs",
 *   "created_at": "2025-…Z", "source": {"kind": "data", "path": "…", "format": "npy"},
 *   "embedding": "conv3-24d-seed…", "reference_size": 200, "seed": 0,
 *   "groups": [{"name": "outputs.images", "kind": "numeric", "features": ["mean_c0", …],
 *               "seen": 5000, "rows": [[…], …]}, …] }
 * ```
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { FramewormError } from '../../common/errors.js';
import { MODEL_TYPES, type ModelType } from '../../common/types.js';
import { EMBEDDING_VERSION } from '../embedding/image-embedder.js';
import type { FeatureSide } from '../features/architectures.js';
import { featureNamesOf } from '../features/feature-groups.js';
import { ReservoirSampler } from '../reservoir.js';
import { hashString } from '../stats/rng.js';
import type { GroupSamples } from '../stats/types.js';

/** The profile format this build writes and reads. */
export const PROFILE_SCHEMA_VERSION = 1;
/** Workspace-relative folder of profiles. */
export const PROFILES_RELATIVE_DIR = 'experiments/shift_profiles';
/** Largest profile file read. */
const MAX_PROFILE_BYTES = 256 * 1024 * 1024;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

const finite = z.number().refine(Number.isFinite);
const groupSchema = z.discriminatedUnion('kind', [
  z.object({ name: z.string().min(1), kind: z.literal('numeric'), features: z.array(z.string()).min(1), seen: z.number().int().min(0), rows: z.array(z.array(finite)) }),
  z.object({ name: z.string().min(1), kind: z.literal('scalar'), features: z.array(z.string()).length(1), seen: z.number().int().min(0), rows: z.array(finite) }),
  z.object({ name: z.string().min(1), kind: z.literal('categorical'), features: z.array(z.string()).length(1), seen: z.number().int().min(0), rows: z.array(z.string()) }),
]);
const sourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('data'), path: z.string(), format: z.string() }),
  z.object({ kind: z.literal('deployment'), name: z.string(), samples: z.number().int().min(0) }),
]);
const profileSchema = z.object({
  schema_version: z.literal(PROFILE_SCHEMA_VERSION),
  name: z.string(),
  architecture: z.enum(MODEL_TYPES),
  side: z.enum(['inputs', 'outputs']),
  created_at: z.string(),
  source: sourceSchema,
  embedding: z.string(),
  reference_size: z.number().int().min(1),
  seed: z.number().int(),
  groups: z.array(groupSchema).min(1),
});

/** One feature group of a profile: its columns and raw reference rows. */
export type ProfileGroup = z.infer<typeof groupSchema>;
/** Where a profile's rows came from. */
export type ProfileSource = z.infer<typeof sourceSchema>;
/** A profile file's content (see the file comment). */
export type ShiftProfile = z.infer<typeof profileSchema>;

/** E_USAGE unless `name` is a plain file-name-safe profile name. */
export function checkProfileName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new FramewormError('E_USAGE', `profile name ${JSON.stringify(name)} is not valid: use letters, digits, '.', '_' and '-' (at most 100, starting with a letter or digit)`);
  }
}

/** Absolute path of profile `name` in `workspace`. */
export function profilePath(workspace: string, name: string): string {
  checkProfileName(name);
  return path.join(workspace, PROFILES_RELATIVE_DIR, `${name}.json`);
}

/** What a new profile is made of. */
export interface ProfileInput {
  readonly name: string;
  readonly architecture: ModelType;
  readonly side: FeatureSide;
  readonly source: ProfileSource;
  readonly groups: readonly GroupSamples[];
  /** Rows kept per group (config `drift_reference_size`). */
  readonly referenceSize: number;
  readonly seed: number;
  readonly now?: Date;
}

function sampled<T>(rows: readonly T[], capacity: number, seed: number): T[] {
  const reservoir = new ReservoirSampler<T>(capacity, seed);
  reservoir.addAll(rows);
  return reservoir.items();
}

/**
 * A profile from feature groups: each group's rows are reduced to a seeded uniform sample of at
 * most `referenceSize` (a reservoir per group, seeded from the seed and the group's name).
 */
export function buildProfile(input: ProfileInput): ShiftProfile {
  checkProfileName(input.name);
  const groups = input.groups.map((g): ProfileGroup => {
    const seed = (input.seed ^ hashString(g.name)) >>> 0;
    const features = [...featureNamesOf(g)];
    switch (g.kind) {
      case 'numeric':
        return { name: g.name, kind: 'numeric', features, seen: g.rows.length, rows: sampled(g.rows, input.referenceSize, seed).map((r) => [...r]) };
      case 'scalar':
        return { name: g.name, kind: 'scalar', features, seen: g.rows.length, rows: sampled(g.rows, input.referenceSize, seed) };
      case 'categorical':
        return { name: g.name, kind: 'categorical', features, seen: g.rows.length, rows: sampled(g.rows, input.referenceSize, seed) };
    }
  });
  if (groups.length === 0) throw new FramewormError('E_INPUT', 'the data gives no feature groups to profile');
  return {
    schema_version: PROFILE_SCHEMA_VERSION,
    name: input.name,
    architecture: input.architecture,
    side: input.side,
    created_at: (input.now ?? new Date()).toISOString(),
    source: input.source,
    embedding: EMBEDDING_VERSION,
    reference_size: input.referenceSize,
    seed: input.seed,
    groups,
  };
}

/**
 * Writes the profile atomically (temp file + rename), so a reader never sees half a profile.
 * E_CONFLICT when it exists and `overwrite` is false.
 */
export function writeProfile(workspace: string, profile: ShiftProfile, overwrite: boolean): string {
  const file = profilePath(workspace, profile.name);
  if (!overwrite && fs.existsSync(file)) {
    throw new FramewormError('E_CONFLICT', `shift profile ${profile.name} already exists (${path.relative(workspace, file)}); pass --force to replace it`);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(profile)}\n`);
  fs.renameSync(tmp, file);
  return file;
}

/**
 * Reads and checks profile `name`: E_NOT_FOUND when missing, E_INPUT when unreadable, not JSON,
 * of another schema version or not a valid profile (naming the first problem).
 */
export function readProfile(workspace: string, name: string): ShiftProfile {
  const file = profilePath(workspace, name);
  const rel = path.relative(workspace, file);
  let text: string;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new FramewormError('E_INPUT', `shift profile ${name} (${rel}) is not a file`);
    if (stat.size > MAX_PROFILE_BYTES) throw new FramewormError('E_INPUT', `shift profile ${name} (${rel}) is ${stat.size} bytes, more than the ${MAX_PROFILE_BYTES} accepted`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof FramewormError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FramewormError('E_NOT_FOUND', `no shift profile named ${name} (looked for ${rel}); make one with frameworm shift profile --name ${name}`);
    }
    throw new FramewormError('E_INPUT', `shift profile ${name} (${rel}) cannot be read: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FramewormError('E_INPUT', `shift profile ${name} (${rel}) is corrupt: not valid JSON (${(err as Error).message})`);
  }
  const version = typeof raw === 'object' && raw !== null ? (raw as { schema_version?: unknown }).schema_version : undefined;
  if (version !== PROFILE_SCHEMA_VERSION) {
    throw new FramewormError('E_INPUT', `shift profile ${name} (${rel}) has schema version ${JSON.stringify(version ?? null)}; this build reads version ${PROFILE_SCHEMA_VERSION} — make it again with frameworm shift profile`);
  }
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.join('.') || '(top level)' : '(top level)';
    throw new FramewormError('E_INPUT', `shift profile ${name} (${rel}) is corrupt: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  const profile = parsed.data;
  for (const g of profile.groups) {
    if (g.kind === 'numeric' && g.rows.some((r) => r.length !== g.features.length)) {
      throw new FramewormError('E_INPUT', `shift profile ${name} (${rel}) is corrupt: group ${g.name} has rows that are not ${g.features.length} long`);
    }
  }
  return profile;
}

/** The profile's groups as reference samples for the statistics. */
export function referenceGroups(profile: ShiftProfile): GroupSamples[] {
  return profile.groups.map((g): GroupSamples => (g.kind === 'numeric' ? { name: g.name, kind: 'numeric', featureNames: g.features, rows: g.rows } : g.kind === 'scalar' ? { name: g.name, kind: 'scalar', rows: g.rows } : { name: g.name, kind: 'categorical', rows: g.rows }));
}

/** E_INPUT when the profile was made for another architecture. */
export function checkProfileArchitecture(profile: ShiftProfile, type: ModelType): void {
  if (profile.architecture !== type) {
    throw new FramewormError('E_INPUT', `shift profile ${profile.name} is for ${profile.architecture} models, not ${type}; make a profile from ${type} data`);
  }
}

function shortList(names: readonly string[]): string {
  return names.length <= 6 ? names.join(', ') : `${names.slice(0, 6).join(', ')}, … (${names.length})`;
}

/**
 * Checks that feature groups computed now (`current`) fit the profile: E_INPUT when no group is
 * shared, when a shared group differs in kind or feature names, or when the profile was made with
 * another image embedding. Returns the names of profile groups the current groups lack and of
 * current groups the profile lacks (the statistics report those as skipped).
 */
export function checkGroupsFit(profile: ShiftProfile, current: readonly GroupSamples[], dataLabel: string): { missing: string[]; extra: string[] } {
  const byName = new Map(current.map((g) => [g.name, g]));
  const shared = profile.groups.filter((g) => byName.has(g.name));
  if (shared.length === 0) {
    throw new FramewormError(
      'E_INPUT',
      `${dataLabel} gives feature groups [${shortList(current.map((g) => g.name))}] but shift profile ${profile.name} has [${shortList(profile.groups.map((g) => g.name))}]; nothing to compare (profile side: ${profile.side}; try --group)`,
    );
  }
  if (shared.some((g) => g.name.endsWith('.embedding')) && profile.embedding !== EMBEDDING_VERSION) {
    throw new FramewormError('E_INPUT', `shift profile ${profile.name} was made with image embedding ${profile.embedding}, this build uses ${EMBEDDING_VERSION}; make the profile again`);
  }
  for (const ref of shared) {
    const cur = byName.get(ref.name)!;
    if (cur.kind !== ref.kind) throw new FramewormError('E_INPUT', `feature group ${ref.name} is ${ref.kind} in shift profile ${profile.name} but ${cur.kind} in ${dataLabel}`);
    const names = featureNamesOf(cur);
    if (names.length !== ref.features.length || names.some((n, i) => n !== ref.features[i])) {
      const i = names.findIndex((n, k) => n !== ref.features[k]);
      const at = i < 0 ? Math.min(names.length, ref.features.length) : i;
      throw new FramewormError(
        'E_INPUT',
        `feature group ${ref.name} has ${ref.features.length} features in shift profile ${profile.name} but ${names.length} in ${dataLabel} (first difference at #${at}: ${ref.features[at] ?? 'none'} vs ${names[at] ?? 'none'}); the data does not match the profile's model`,
      );
    }
  }
  const inProfile = new Set(profile.groups.map((g) => g.name));
  return { missing: profile.groups.filter((g) => !byName.has(g.name)).map((g) => g.name), extra: current.filter((g) => !inProfile.has(g.name)).map((g) => g.name) };
}
