/**
 * The one dispatch of the control plane's handler table. The agent's RPC server, the Electron
 * IPC registration and (through the agent) web mode all call this, so channel validation,
 * cancellation, task tracking and error serialisation cannot drift apart between transports.
 */
import type {
  ChannelArgs, ChannelResult, ContractError, ProgressEvent, PushChannel, PushChannels, RequestChannel,
} from '../../preload/contract.js';
import { REQUEST_CHANNELS } from '../../preload/contract.js';
import { FramewormError, toFramewormError } from '../common/errors.js';
import { TASK_CHANNELS, type TaskRegistry } from './tasks.js';

/** What a handler gets besides its arguments. */
export interface HandlerContext {
  /** Streams a progress step to the caller while the request runs. */
  progress(event: ProgressEvent): void;
  /** Aborted when the caller goes away before the answer (Ctrl-C on the CLI) or cancels the task. */
  readonly signal: AbortSignal;
  /** Sends a push-channel message (e.g. `event`) to the caller while the request runs. */
  push<P extends PushChannel>(channel: P, payload: PushChannels[P]): void;
}

/** One handler per request channel; the same table serves the agent, Electron IPC and web mode. */
export type HandlerTable = {
  readonly [C in RequestChannel]: (args: ChannelArgs<C>, ctx: HandlerContext) => Promise<ChannelResult<C>>;
};

/** The answer of one call, as it crosses any transport. */
export type DispatchReply = { readonly result: unknown } | { readonly error: ContractError };

/** A dispatch bound to one handler table (and its task registry). */
export type Dispatcher = (channel: string, args: unknown, ctx: HandlerContext) => Promise<DispatchReply>;

/** Serialises an error for the wire: code, one-line message, optional detail. */
export function toContractError(err: unknown): ContractError {
  const e = toFramewormError(err);
  return e.detail === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, detail: e.detail };
}

/** True for a name of the contract's request channels (and nothing inherited from Object). */
export function isRequestChannel(channel: string): channel is RequestChannel {
  return (REQUEST_CHANNELS as readonly string[]).includes(channel);
}

/**
 * Runs one call: validates the channel and the argument's shape, runs the handler, and answers
 * `{result}` or `{error}` (never throws). Channels in TASK_CHANNELS run as a task of `tasks`:
 * their progress carries the task id, `task.cancel` aborts them, and the caller's signal still
 * cancels them as before (the CLI's Ctrl-C closes its connection).
 */
export async function dispatch(
  handlers: HandlerTable, channel: string, args: unknown, ctx: HandlerContext, tasks?: TaskRegistry,
): Promise<DispatchReply> {
  if (!isRequestChannel(channel)) return { error: toContractError(new FramewormError('E_USAGE', `unknown control-plane channel '${channel}'`)) };
  // Every channel takes an object; a missing body counts as `{}` (agent.info, deploy.list …).
  const input = args ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    return { error: toContractError(new FramewormError('E_USAGE', `the argument of ${channel} must be a JSON object`)) };
  }
  const handler = handlers[channel] as (a: unknown, c: HandlerContext) => Promise<unknown>;
  if (!tasks || !TASK_CHANNELS.has(channel)) {
    try {
      return { result: await handler(input, ctx) };
    } catch (err) {
      return { error: toContractError(err) };
    }
  }
  const task = tasks.begin(channel, input, ctx.signal);
  // The first step names the task at once, so a client can cancel before any real step arrives.
  ctx.progress({ step: 'task', message: `${channel} started`, value: 0, task_id: task.id });
  try {
    const result = await handler(input, { progress: (p) => ctx.progress(task.progress(p)), push: ctx.push, signal: task.signal });
    task.finish({ ok: true });
    return { result };
  } catch (err) {
    const error = toContractError(err);
    const view = task.finish({ ok: false, error });
    if (view.state !== 'cancelled') return { error };
    // One shape for every cancelled call, whatever the step that stopped threw.
    return { error: { code: 'E_CONFLICT', message: `${channel} was cancelled`, detail: { task_id: task.id, cancelled: true, cause: error.message } } };
  }
}

/** Binds dispatch to a handler table and task registry. */
export function createDispatcher(handlers: HandlerTable, tasks?: TaskRegistry): Dispatcher {
  return (channel, args, ctx) => dispatch(handlers, channel, args, ctx, tasks);
}
