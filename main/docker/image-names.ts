/**
 * Docker names derived from model names. Model names keep their case in the registry, but an
 * image repository must be lowercase, so `PROBE-Upper` and `probe-upper` would both become
 * `frameworm/probe-upper` and overwrite each other's images. Every derived name here is
 * deterministic and unique per exact model name: a name that already is a valid lowercase
 * repository component is used as it is; any other name is lowercased and suffixed with a short
 * hash of the exact name. A name that cannot become a component even lowercased (`a.`, `a..b`,
 * `a_`) is refused with the rule (assertImageableName), at `deploy start`.
 */
import crypto from 'node:crypto';
import { FramewormError } from '../common/errors.js';

/** The repository namespace of every image the docker target builds. */
export const IMAGE_NAMESPACE = 'frameworm';

// One path component of a reference (distribution/reference grammar): lowercase alphanumerics
// separated by one '.', one or two '_', or any number of '-'; no separator at either end.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_{1,2}|-+)[a-z0-9]+)*$/;
// A compose project name: lowercase alphanumerics, '_' and '-', starting alphanumeric.
const PROJECT = /^[a-z0-9][a-z0-9_-]*$/;
// A tag: word characters, '.' and '-', at most 128, not starting with '.' or '-'.
const TAG = /^\w[\w.-]{0,127}$/;

/** The rule assertImageableName states when it refuses a name. */
export const IMAGE_NAME_RULE =
  "letters and digits separated by single '.', one or two '_' or any number of '-' (no separator at the start or end, none next to another kind)";

/** First 8 hex digits of sha256 of the exact (case-preserved) name. */
function shortHash(name: string): string {
  return crypto.createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 8);
}

/** True when `name` (lowercased) is a valid repository component, i.e. it can name an image. */
export function isImageableName(name: string): boolean {
  return COMPONENT.test(name.toLowerCase());
}

/**
 * Throws E_USAGE unless the model name can name a Docker image (after lowercasing).
 *
 * Called by `deploy start` for every target: a model whose name can never be built into an
 * image would otherwise fail only when someone first deploys it with --build-docker.
 */
export function assertImageableName(name: string): void {
  if (!isImageableName(name)) {
    throw new FramewormError('E_USAGE', `model name ${JSON.stringify(name)} cannot name a Docker image: use ${IMAGE_NAME_RULE}`);
  }
}

/**
 * The repository component for a model name: the name itself when it already is a valid
 * lowercase component, else `<lowercased>-<8 hex of sha256(name)>`.
 */
export function imageRepository(name: string): string {
  if (COMPONENT.test(name)) return name;
  assertImageableName(name);
  return `${name.toLowerCase()}-${shortHash(name)}`;
}

/** `frameworm/<repository>:<version>`: the image of one version (tags keep their case). */
export function imageRef(name: string, version: string): string {
  if (!TAG.test(version)) throw new FramewormError('E_USAGE', `version ${JSON.stringify(version)} cannot be a Docker image tag`);
  return `${IMAGE_NAMESPACE}/${imageRepository(name)}:${version}`;
}

/**
 * The docker compose project name of a model's generated folder. Compose would otherwise take
 * the folder name lowercased, which is shared by case variants; project names allow no '.', so
 * a repository with one is hashed too.
 */
export function composeProjectName(name: string): string {
  const repo = imageRepository(name);
  if (PROJECT.test(repo)) return repo;
  const dashed = repo.replace(/\./g, '-');
  // A repository derived from a non-lowercase name already ends in the name's hash.
  return repo === name ? `${dashed}-${shortHash(name)}` : dashed;
}
