/**
 * `frameworm ui`: the desktop app where Electron is installed, or with `--web` the same GUI for
 * a browser, served by a client of the workspace's control plane (the agent is started when
 * none runs; web mode never hosts a second control plane).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Command } from 'commander';
import { controlDirOf, readAgentRecord } from '../agent/agent-files.js';
import { ensureAgent, findAgent } from '../agent/agent-launcher.js';
import { FramewormError } from '../common/errors.js';
import { packageRoot } from '../common/paths.js';
import { loadDeployConfig } from '../config/deploy-config.js';
import { PushRelay } from '../web/push-relay.js';
import { WebServer, type AgentEndpoint } from '../web/web-server.js';
import { commonOf, withCommon } from './common-options.js';

const FOLLOW_TIMEOUT_MS = 30_000;

/** Registers `frameworm ui`. */
export function registerUiCommand(program: Command): void {
  withCommon(
    program
      .command('ui')
      .description('open the desktop GUI, or serve it to a browser on 127.0.0.1 with --web')
      .option('--web', 'serve the GUI over HTTP for a browser (also over an SSH tunnel: forward the same port)')
      .option('--port <n>', 'port for --web (default: a free one)'),
  ).action(async (opts: { web?: boolean; port?: string; workspace?: string; json?: boolean }) => {
    const { workspace } = commonOf(opts);
    if (!opts.web) {
      if (opts.port !== undefined) throw new FramewormError('E_USAGE', '--port applies to --web only');
      await runDesktop(workspace);
      return;
    }
    await runWeb(workspace, parsePort(opts.port));
  });
}

function parsePort(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new FramewormError('E_USAGE', `--port must be an integer from 1 to 65535 (got ${value})`);
  return n;
}

/** The Electron binary, or null where the desktop app cannot run (not installed, no display). */
export function electronBinary(): string | null {
  if (process.platform === 'linux' && !process.env['DISPLAY'] && !process.env['WAYLAND_DISPLAY']) return null;
  try {
    // The electron package's main export is the path of its binary; it throws when the binary
    // was never downloaded (install scripts off, offline machines).
    const bin = createRequire(import.meta.url)('electron') as unknown;
    return typeof bin === 'string' && fs.existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

async function runDesktop(workspace: string): Promise<void> {
  const bin = electronBinary();
  if (!bin) {
    throw new FramewormError('E_USAGE', 'the desktop app is not installed here (no Electron, or no display); serve the GUI to a browser with: frameworm ui --web');
  }
  const child = spawn(bin, [packageRoot()], { stdio: 'inherit', env: { ...process.env, FRAMEWORM_WORKSPACE: workspace } });
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new FramewormError('E_RUNTIME', `the desktop app exited with code ${code}`);
}

/** The agent's RPC endpoint from its record, starting the agent when none answers. */
async function agentEndpoint(workspace: string): Promise<AgentEndpoint> {
  const record = readAgentRecord(controlDirOf(workspace));
  if (record) return { port: record.port, token: record.token };
  await ensureAgent(workspace);
  const started = readAgentRecord(controlDirOf(workspace));
  if (!started) throw new FramewormError('E_AGENT', 'the agent started but published no record');
  return { port: started.port, token: started.token };
}

async function runWeb(workspace: string, port: number): Promise<void> {
  await ensureAgent(workspace);
  const server = new WebServer({
    workspace,
    token: randomBytes(24).toString('hex'),
    rendererDir: path.join(packageRoot(), 'renderer', 'dist'),
    agent: () => agentEndpoint(workspace),
    maxUploadBytes: () => loadDeployConfig(workspace).config.max_upload_bytes,
  });
  await server.listen(port);
  const relay = new PushRelay({
    connect: async () => (await findAgent(workspace))?.client ?? null,
    deliver: (m) => server.broadcast(m),
    log: (line) => process.stderr.write(`frameworm ui: ${line}\n`),
  });
  relay.start();
  // The address goes out once pushes flow, so nothing the user does in the page is missed.
  let timer: NodeJS.Timeout | undefined;
  const followed = await Promise.race([
    relay.ready.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), FOLLOW_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if (!followed) {
    await relay.dispose();
    await server.close();
    throw new FramewormError('E_AGENT', `the control plane did not accept the GUI's subscription within ${FOLLOW_TIMEOUT_MS / 1000} s (see .frameworm/agent.log)`);
  }
  process.stdout.write(`${server.url()}\n`);
  process.stderr.write(`frameworm ui: serving the GUI of ${workspace}; open the address above. Ctrl-C stops the GUI server (deployments keep running in the agent).\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await relay.dispose();
  await server.close();
}
