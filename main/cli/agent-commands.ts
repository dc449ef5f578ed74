import type { Command } from 'commander';
import { FramewormError } from '../common/errors.js';
import { notAnsweringError, probeAgent, restoreFailureError, startAgent } from '../agent/agent-launcher.js';
import { processAlive } from '../agent/agent-files.js';
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
          const probe = await probeAgent(common.workspace);
          if (probe.state === 'not_answering') throw notAnsweringError(probe);
          const existing = probe.state === 'running' ? probe : null;
          const { info } = existing ?? (await startAgent(common.workspace));
          // A production deployment that did not come back is a failure of this start, even
          // though the agent keeps running (and serving the others).
          const failed = existing ? null : restoreFailureError(info);
          if (failed) throw failed;
          out.result({ running: true, already_running: existing !== null, ...info }, () =>
            `agent ${existing ? 'already running' : 'started'}: pid ${info.pid}, ${info.deployments} deployment(s) serving`,
          );
          return;
        }
        case 'stop': {
          const probe = await probeAgent(common.workspace);
          if (probe.state === 'not_running') {
            out.result({ running: false, stopped: false }, () => 'no agent is running for this workspace');
            return;
          }
          const { pid } = probe.record;
          if (probe.state === 'running') {
            await probe.client.invoke('agent.shutdown', {});
          } else {
            // It cannot be asked; SIGTERM runs the same orderly shutdown. probeAgent checked
            // that the pid is an agent process, not a stranger that inherited a stale pid.
            process.kill(pid, 'SIGTERM');
          }
          const deadline = Date.now() + 15_000;
          while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          if (processAlive(pid)) {
            throw new FramewormError('E_AGENT', `agent pid ${pid} did not stop within 15 s${probe.state === 'not_answering' ? ` (it was not answering: ${probe.reason})` : ''}`);
          }
          out.result({ running: false, stopped: true, pid }, () => `agent ${pid} stopped`);
          return;
        }
        case 'status': {
          const probe = await probeAgent(common.workspace);
          if (probe.state === 'not_answering') throw notAnsweringError(probe);
          if (probe.state === 'not_running') {
            out.result({ running: false }, () => 'no agent is running for this workspace');
            return;
          }
          const { info } = probe;
          const failures = info.restore_failures ?? [];
          out.result({ running: true, ...info }, () =>
            `agent running: pid ${info.pid}, up ${info.uptime_s} s, ${info.deployments} deployment(s) serving` +
            (failures.length > 0 ? `; not restored: ${failures.map((f) => `${f.name} ${f.version} (${f.message})`).join('; ')}` : ''),
          );
          return;
        }
        default:
          throw new FramewormError('E_USAGE', `agent action must be start, stop or status (got "${action}")`);
      }
    },
  );
}
