/**
 * What the next agent does about a control plane killed in the middle of a change: export folders
 * of deploys that never committed are removed, and every rollback whose intent was recorded gets
 * its outcome line. Both run at agent start, before any deploy.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JsonObject } from '../common/json.js';
import type { Registry } from '../registry/registry.js';
import { WATCHER_ACTOR } from '../watch/rollback-watcher.js';
import type { Workspace } from '../workspace/workspace.js';
import { removeIfEmpty } from './deploy-support.js';

/** `<exports>/<name>/.<version>.deploying`: marks an export folder whose deploy has not committed yet. */
const IN_FLIGHT_MARKER = /^\.(.+)\.deploying$/;

/** How far back restore looks for a `rollback_started` without its `rollback` line. */
const RECONCILE_EVENTS = 500;

/** The marker file of a deploy in flight into `exportDir`. */
export function inFlightMarker(exportDir: string): string {
  return path.join(path.dirname(exportDir), `.${path.basename(exportDir)}.deploying`);
}

/**
 * Export folders of deploys killed before they committed (kill -9 of the agent mid-export): a
 * marked folder whose version the registry does not know is removed. Unmarked folders are never
 * touched (after a lost registry they are what `registry recover` rebuilds from). Returns
 * `name/version` of each folder removed.
 */
export function removeUnfinishedExports(workspace: Workspace, registry: Registry): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(workspace.exportsDir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const modelDir = path.join(workspace.exportsDir, name);
    let entries: string[];
    try {
      entries = fs.readdirSync(modelDir);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const version = IN_FLIGHT_MARKER.exec(entry)?.[1];
      if (!version) continue;
      // Registration and promotion commit together, so a known version did commit.
      if (registry.getVersion(name, version) === null) {
        fs.rmSync(path.join(modelDir, version), { recursive: true, force: true });
        removed.push(`${name}/${version}`);
      }
      fs.rmSync(path.join(modelDir, entry), { force: true });
    }
    removeIfEmpty(modelDir);
  }
  return removed;
}

/** An interrupted automatic rollback that restore carries out again. */
export interface ResumableRollback {
  readonly name: string;
  readonly to: string;
  readonly reason: string;
  readonly fields: JsonObject;
}

/**
 * A `rollback_started` without its `rollback` line means the rollback never committed (the line
 * commits with the stage changes), so the registry still holds the old production. Each gets its
 * `rollback` line (success false, saying why); automatic ones whose breaching version is still
 * production are returned to be carried out now.
 */
export function reconcileRollbacks(registry: Registry, log: (line: string) => void): ResumableRollback[] {
  const resume: ResumableRollback[] = [];
  for (const model of registry.listModels()) {
    const open: JsonObject[] = [];
    for (const e of registry.listEvents(model.name, RECONCILE_EVENTS)) {
      if (e.event === 'rollback_started') open.push(e.fields);
      else if (e.event === 'rollback') open.pop();
    }
    for (const fields of open) {
      const production = registry.getProduction(model.name)?.version ?? null;
      const error = `the control plane stopped before the rollback committed; ${production ?? 'nothing'} stayed production`;
      registry.recordEvent(model.name, 'rollback', { ...fields, success: false, error });
      log(`${model.name}: ${error}`);
      const to = fields['to_version'];
      if (fields['actor'] === WATCHER_ACTOR && typeof to === 'string' && production !== null && production === fields['from_version']) {
        resume.push({ name: model.name, to, reason: String(fields['reason'] ?? 'automatic rollback'), fields });
      }
    }
  }
  return resume;
}
