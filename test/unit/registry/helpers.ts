/** Shared set-up for registry tests: a throw-away workspace folder with a registry and logs. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventLog } from '../../../main/events/event-log.js';
import { Registry, type RegistryOptions } from '../../../main/registry/registry.js';
import type { RegisterInput } from '../../../main/registry/records.js';

export interface TestRegistry {
  readonly dir: string;
  readonly dbPath: string;
  readonly logsDir: string;
  readonly log: EventLog;
  readonly registry: Registry;
  cleanup(): void;
}

/** A fresh registry in a new temp folder. */
export function makeRegistry(options: RegistryOptions = {}): TestRegistry {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-registry-'));
  const dbPath = path.join(dir, 'model_registry', 'registry.db');
  const logsDir = path.join(dir, 'deploy_logs');
  const log = new EventLog(logsDir);
  const registry = new Registry(dbPath, log, options);
  return {
    dir, dbPath, logsDir, log, registry,
    cleanup() {
      registry.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Minimal registration input for model `name`. */
export function versionInput(name: string, extra: Partial<RegisterInput> = {}): RegisterInput {
  return { name, type: 'vae', target: 'embedded', artifacts: {}, lineage: {}, ...extra };
}

/** Raw bytes of a file, or '' when it does not exist (for before/after comparisons). */
export function fileText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
