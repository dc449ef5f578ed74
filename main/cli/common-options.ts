import { Command, Option } from 'commander';
import path from 'node:path';

export interface CommonOptions {
  readonly workspace: string;
  readonly json: boolean;
}

/** Adds the options every leaf command shares: `--workspace DIR` and `--json`. */
export function withCommon(cmd: Command): Command {
  return cmd
    .addOption(new Option('--workspace <dir>', 'workspace folder (a FRAMEWORM project)').default(process.cwd(), 'current directory'))
    .option('--json', 'print one JSON document on stdout', false);
}

export function commonOf(opts: { workspace?: string; json?: boolean }): CommonOptions {
  return { workspace: path.resolve(opts.workspace ?? process.cwd()), json: Boolean(opts.json) };
}
