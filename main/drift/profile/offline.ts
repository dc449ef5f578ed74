/**
 * Profiles and comparisons made from data files (`shift profile --data`, `shift compare`):
 * load → observe → feature groups → profile / compareWindows. The same feature code as live
 * traffic, so an offline verdict is the verdict a deployment would give on those samples.
 */
import path from 'node:path';
import type { ModelType } from '../../common/types.js';
import { loadDataSource } from '../data/load-data.js';
import { observeData } from '../data/observe-data.js';
import { ImageEmbedder } from '../embedding/image-embedder.js';
import type { FeatureSide } from '../features/architectures.js';
import { featureGroups } from '../features/feature-groups.js';
import type { Observation } from '../features/observation.js';
import { compareWindows } from '../stats/compare-windows.js';
import type { DriftResult, GroupSamples } from '../stats/types.js';
import { buildProfile, checkGroupsFit, checkProfileArchitecture, readProfile, referenceGroups, writeProfile, type ShiftProfile } from './shift-profile.js';

/** Feature groups of an observation; loads the image embedder only when there are output images. */
async function groupsOf(type: ModelType, observation: Observation): Promise<GroupSamples[]> {
  if (!observation.outputImages) return featureGroups(type, observation, null);
  const embedder = await ImageEmbedder.create();
  try {
    return await featureGroups(type, observation, embedder);
  } finally {
    await embedder.dispose();
  }
}

/** Arguments of {@link profileFromData}. */
export interface ProfileFromDataArgs {
  readonly workspace: string;
  readonly name: string;
  readonly type: ModelType;
  readonly dataPath: string;
  /** `--group`; undefined: the architecture's default side. */
  readonly side?: FeatureSide;
  readonly referenceSize: number;
  readonly seed: number;
  readonly overwrite: boolean;
}

/**
 * Makes and writes profile `name` from a data file or folder. Nothing is written unless the
 * data was read and its features computed without error.
 */
export async function profileFromData(args: ProfileFromDataArgs): Promise<{ profile: ShiftProfile; file: string }> {
  const source = loadDataSource(args.dataPath);
  const { observation, side } = observeData(args.type, source, args.side ? { side: args.side } : {});
  const groups = await groupsOf(args.type, observation);
  const profile = buildProfile({
    name: args.name,
    architecture: args.type,
    side,
    source: { kind: 'data', path: path.resolve(args.dataPath), format: source.format },
    groups,
    referenceSize: args.referenceSize,
    seed: args.seed,
  });
  return { profile, file: writeProfile(args.workspace, profile, args.overwrite) };
}

/** Arguments of {@link compareData}. */
export interface CompareDataArgs {
  readonly workspace: string;
  readonly profile: string;
  readonly dataPath: string;
  /** `--group`; undefined: the side the profile was made from. */
  readonly side?: FeatureSide;
  /** `--type`; when given it must be the profile's architecture. */
  readonly type?: ModelType;
  readonly alpha: number;
  readonly permutations: number;
  readonly seed: number;
}

/** The verdict of a data file against a profile, plus the groups only one side had. */
export interface CompareDataResult {
  readonly profile: ShiftProfile;
  readonly result: DriftResult;
  /** Profile groups the data does not give. */
  readonly missing: readonly string[];
  /** Data groups the profile does not have. */
  readonly extra: readonly string[];
}

/** Runs the drift check of a data file against profile `profile` (nothing is written). */
export async function compareData(args: CompareDataArgs): Promise<CompareDataResult> {
  const profile = readProfile(args.workspace, args.profile);
  if (args.type) checkProfileArchitecture(profile, args.type);
  const source = loadDataSource(args.dataPath);
  const { observation } = observeData(profile.architecture, source, { side: args.side ?? profile.side, explicit: args.side !== undefined });
  const current = await groupsOf(profile.architecture, observation);
  const { missing, extra } = checkGroupsFit(profile, current, `data ${args.dataPath}`);
  const shared = current.filter((g) => !extra.includes(g.name));
  const reference = referenceGroups(profile);
  const result = compareWindows(reference, shared, { alpha: args.alpha, permutations: args.permutations, seed: args.seed });
  return { profile, result, missing, extra };
}
