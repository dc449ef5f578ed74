import type { Command } from 'commander';
import { FramewormError, toFramewormError } from '../common/errors.js';
import { acquireControlLock, controlDirOf } from '../agent/agent-files.js';
import { loadDeployConfig } from '../config/deploy-config.js';
import { recoverRegistry } from '../registry/recover.js';
import { Workspace } from '../workspace/workspace.js';
import { commonOf, withCommon } from './common-options.js';
import { makeOutput, table } from './output.js';

/** `frameworm registry recover`: rebuild the registry database from the event logs and export manifests. */
export function registerRegistryCommands(program: Command): void {
  const registry = program.command('registry').description('the model registry database');
  withCommon(
    registry
      .command('recover')
      .description('rebuild the registry from the JSONL event logs and export manifests (after registry.db was lost or replaced)'),
  ).action((opts: { workspace?: string; json?: boolean }) => {
    const common = commonOf(opts);
    const { config } = loadDeployConfig(common.workspace);
    const ws = Workspace.open(common.workspace, config);
    // Rebuilding under a running control plane would race its writes: hold its lock instead.
    let release: () => void;
    try {
      release = acquireControlLock(controlDirOf(common.workspace));
    } catch (err) {
      const e = toFramewormError(err);
      if (e.code !== 'E_CONFLICT') throw e;
      throw new FramewormError('E_CONFLICT', `${e.message}; stop it first (frameworm agent stop), then run registry recover again`);
    }
    try {
      const result = recoverRegistry({ dbPath: ws.registryDb, logsDir: ws.logsDir, exportsDir: ws.exportsDir });
      for (const s of result.skipped) process.stderr.write(`frameworm: warning: skipped ${s}\n`);
      makeOutput(common.json).result(result, () =>
        [
          `rebuilt ${result.registry}${result.moved_aside ? ` (the previous file is kept as ${result.moved_aside})` : ''}`,
          table(
            ['MODEL', 'VERSIONS', 'PRODUCTION', 'EVENTS REPLAYED', 'FROM MANIFESTS ONLY'],
            result.models.map((m) => [m.name, String(m.versions), m.production ?? '-', String(m.events), m.from_manifests.join(', ') || '-']),
          ),
          'the next command starts an agent that serves the production versions again',
        ].join('\n'),
      );
    } finally {
      release();
    }
  });
}
