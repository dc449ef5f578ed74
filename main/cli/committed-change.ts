/**
 * Runs a registry-changing command (start, promote, rollback, stop) through the agent and,
 * when the agent is lost mid-call (killed, crashed), finds out from the registry itself whether
 * the change committed — and says so — instead of reporting a failure for a change that
 * happened. A committed change is then served again by a freshly started agent, which
 * restores production from the registry.
 */
import fs from 'node:fs';
import type { ChannelArgs, ChannelResult, ProgressEvent, RequestChannel } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import { loadDeployConfig } from '../config/deploy-config.js';
import { ensureAgent } from '../agent/agent-launcher.js';
import { isLostAgent } from '../agent/rpc-client.js';
import { Registry, type VersionRecord } from '../registry/registry.js';
import { Workspace } from '../workspace/workspace.js';

/** What the registry says about one deployment name. */
export interface RegistryView {
  readonly production: string | null;
  readonly versions: ReadonlyMap<string, VersionRecord>;
  /** Base URL of the stable endpoint the registry records, or null. */
  readonly endpoint: string | null;
}

/** What a command concludes from the registry after losing the agent: its result if the change committed. */
export type CommitCheck<C extends RequestChannel> = (before: RegistryView, after: RegistryView) => ChannelResult<C> | null;

/** Reads a deployment's registry state in this process (no agent), or an empty view. */
export function readRegistryView(workspaceRoot: string, name: string): RegistryView {
  const empty: RegistryView = { production: null, versions: new Map(), endpoint: null };
  const { config } = loadDeployConfig(workspaceRoot);
  const ws = Workspace.open(workspaceRoot, config);
  if (!fs.existsSync(ws.registryDb)) return empty;
  const registry = Registry.open(ws);
  try {
    const model = registry.getModel(name);
    if (!model) return empty;
    const versions = new Map(registry.listVersions(name).map((v) => [v.version, v] as const));
    const endpoint = model.endpoint_port ? `http://${config.host}:${model.endpoint_port}` : null;
    return { production: registry.getProduction(name)?.version ?? null, versions, endpoint };
  } finally {
    registry.close();
  }
}

/**
 * Invokes `channel`; if the agent is lost during the call, compares the registry before and
 * after. Committed → warns on stderr, restarts the agent (which restores what the registry says
 * is production) and returns the result `check` built. Not committed → E_AGENT saying nothing
 * changed.
 */
export async function invokeChange<C extends RequestChannel>(
  workspaceRoot: string,
  name: string,
  channel: C,
  args: ChannelArgs<C>,
  check: CommitCheck<C>,
  onProgress?: (p: ProgressEvent) => void,
): Promise<ChannelResult<C>> {
  const client = await ensureAgent(workspaceRoot);
  const before = safeView(workspaceRoot, name);
  try {
    const result = await client.invoke(channel, args, onProgress);
    printWarnings(result);
    return result;
  } catch (err) {
    if (!isLostAgent(err) || before === null) throw err;
    const after = safeView(workspaceRoot, name);
    const committed = after ? check(before, after) : null;
    const command = channel.replace('.', ' ');
    if (!committed) {
      throw new FramewormError('E_AGENT', `the agent stopped during \`${command}\` before the change committed: nothing changed (see .frameworm/agent.log)`);
    }
    process.stderr.write(`frameworm: warning: the agent stopped during \`${command}\`, after the change had committed in the registry; starting a new agent to serve it\n`);
    try {
      await ensureAgent(workspaceRoot);
    } catch (restartErr) {
      process.stderr.write(`frameworm: warning: could not restart the agent (${(restartErr as Error).message}); the change stands in the registry\n`);
    }
    return committed;
  }
}

/** Prints the warnings a result carries (a change that committed with a side effect that failed). */
export function printWarnings(result: unknown): void {
  const warnings = (result as { warnings?: unknown } | null)?.warnings;
  if (!Array.isArray(warnings)) return;
  for (const w of warnings) process.stderr.write(`frameworm: warning: ${String(w)}\n`);
}

function safeView(workspaceRoot: string, name: string): RegistryView | null {
  try {
    return readRegistryView(workspaceRoot, name);
  } catch {
    return null;
  }
}
