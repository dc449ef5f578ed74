import type { ProgressEvent } from '../../preload/contract.js';
import { toFramewormError } from '../common/errors.js';
import { configFileWarnings } from '../config/deploy-config.js';

/** How a command prints: one JSON document on stdout with --json, human text otherwise. */
export interface Output {
  readonly json: boolean;
  result(value: unknown, human: () => string): void;
  progress(event: ProgressEvent): void;
}

/** Makes the output channel for one command invocation. */
export function makeOutput(json: boolean, stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Output {
  const tty = Boolean(stderr.isTTY) && !json;
  return {
    json,
    result(value, human) {
      stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
    },
    progress(event) {
      if (!tty) return;
      const pct = event.value === undefined ? '' : `${Math.round(event.value * 100)}% `.padStart(5);
      stderr.write(`  ${pct}${event.step}: ${event.message}\n`);
    },
  };
}

/** Prints the one-line reason and returns the exit code for it. */
export function reportError(err: unknown, stderr: NodeJS.WriteStream = process.stderr): number {
  const e = toFramewormError(err);
  const line = e.message.replace(/\s*\n\s*/g, ' ');
  stderr.write(`frameworm: error: ${line}\n`);
  return e.exitCode;
}

/** Prints one warning line on stderr (stdout stays the command's result, JSON or text). */
export function warn(line: string, stderr: NodeJS.WriteStream = process.stderr): void {
  stderr.write(`frameworm: warning: ${line.replace(/\s*\n\s*/g, ' ')}\n`);
}

/**
 * Warns about every unknown key in the workspace's config file (typos would otherwise do
 * nothing, silently). Called before every command, whatever it is: the agent reads the same
 * file but its log is not where anyone looks.
 */
export function warnAboutConfig(workspaceRoot: string, stderr: NodeJS.WriteStream = process.stderr): void {
  for (const line of configFileWarnings(workspaceRoot)) warn(line, stderr);
}

/** Renders rows as an aligned text table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
