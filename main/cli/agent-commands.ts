import type { Command } from 'commander';
import { FramewormError } from '../common/errors.js';
import { findAgent, startAgent } from '../agent/agent-launcher.js';
import { controlDirOf, processAlive, readAgentRecord } from '../agent/agent-files.js';
import { commonOf, withCommon } from './common-options.js';
import { makeOutput } from './output.js';

/** `frameworm agent start|stop|status`: the headless control plane of a workspace. */
export function registerAgentCommands(program: Command): void {
  withCommon(program.command('agent').description('the headless control plane (start | stop | status)').argument('[action]', 'start, stop or status', 'status')).action(
    async (action: string, opts: { workspace?: string; json?: boolean }) => {
      const common = commonOf(opts);
      const out = makeOutput(common.json);
      switch (action) {
        case 'start': {
          const existing = await findAgent(common.workspace);
          const { client } = existing ?? (await startAgent(common.workspace));
          const info = await client.invoke('agent.info', {});
          out.result({ running: true, already_running: existing !== null, ...info }, () =>
            `agent ${existing ? 'already running' : 'started'}: pid ${info.pid}, ${info.deployments} deployment(s) serving`,
          );
          return;
        }
        case 'stop': {
          const found = await findAgent(common.workspace);
          if (!found) {
            out.result({ running: false, stopped: false }, () => 'no agent is running for this workspace');
            return;
          }
          await found.client.invoke('agent.shutdown', {});
          const deadline = Date.now() + 15_000;
          while (processAlive(found.record.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          if (processAlive(found.record.pid)) throw new FramewormError('E_AGENT', `agent pid ${found.record.pid} did not stop within 15 s`);
          out.result({ running: false, stopped: true, pid: found.record.pid }, () => `agent ${found.record.pid} stopped`);
          return;
        }
        case 'status': {
          const found = await findAgent(common.workspace);
          if (!found) {
            const stale = readAgentRecord(controlDirOf(common.workspace));
            out.result({ running: false }, () => `no agent is running for this workspace${stale ? ' (stale record)' : ''}`);
            return;
          }
          const info = await found.client.invoke('agent.info', {});
          out.result({ running: true, ...info }, () => `agent running: pid ${info.pid}, up ${info.uptime_s} s, ${info.deployments} deployment(s) serving`);
          return;
        }
        default:
          throw new FramewormError('E_USAGE', `agent action must be start, stop or status (got "${action}")`);
      }
    },
  );
}
