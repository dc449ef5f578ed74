/**
 * The `frameworm` command line. Every command takes `--workspace DIR` (default: the current
 * directory) and `--json`; deployment commands talk to the workspace's control plane, starting
 * the headless agent in the background when none runs.
 */
import { Command, CommanderError } from 'commander';
import { registerAgentCommands } from './agent-commands.js';
import { registerAlertsCommands } from './alerts-commands.js';
import { commonOf } from './common-options.js';
import { registerDeployCommands } from './deploy-commands.js';
import { registerRegistryCommands } from './registry-commands.js';
import { registerShiftCommands } from './shift-commands.js';
import { registerUiCommand } from './ui-command.js';
import { reportError, warnAboutConfig } from './output.js';

function buildProgram(): Command {
  const program = new Command('frameworm')
    .description('Frameworm Deploy: trained FRAMEWORM / PyTorch generative models to production HTTP APIs')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `frameworm: ${s}` : s) });
  registerDeployCommands(program);
  registerAgentCommands(program);
  registerRegistryCommands(program);
  registerAlertsCommands(program);
  registerShiftCommands(program);
  registerUiCommand(program);
  for (const cmd of program.commands) cmd.exitOverride();
  // Every command warns about unknown config keys first (a typo otherwise does nothing).
  program.hook('preAction', (_program, action) => warnAboutConfig(commonOf(action.opts()).workspace));
  return program;
}

/** Runs the CLI and resolves with the process exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; commander has already printed its one-line message.
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? 0 : 2;
    }
    return reportError(err);
  }
}

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(err);
  },
);
