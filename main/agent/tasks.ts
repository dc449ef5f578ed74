/**
 * Long operations as tasks: an id the client can cancel by, a state, and one monotonic progress
 * value. The dispatch turns each call of a TASK_CHANNELS channel into a task, whichever
 * transport it came through (agent RPC, Electron IPC, web mode), so two deploys never mix and a
 * cancel reaches the operation's AbortSignal.
 */
import { randomUUID } from 'node:crypto';
import type { ContractError, ProgressEvent, RequestChannel, TaskState, TaskView } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';

/** The channels that run as tasks: those that take long and honour a cancel signal. */
export const TASK_CHANNELS: ReadonlySet<RequestChannel> = new Set<RequestChannel>(['deploy.start', 'deploy.promote', 'deploy.rollback']);

/** Finished tasks kept for task.list (running ones are always kept). */
const KEEP_FINISHED = 50;

/** One running task, as the dispatch drives it. */
export interface RunningTask {
  readonly id: string;
  /** Aborted by task.cancel or when the caller's own signal aborts. */
  readonly signal: AbortSignal;
  /** Records a step; returns it with the task id and the monotonic value. */
  progress(p: ProgressEvent): ProgressEvent;
  /** Ends the task: `done` on success; `cancelled` when it failed after a cancel; else `failed`. */
  finish(outcome: { readonly ok: true } | { readonly ok: false; readonly error: ContractError }): TaskView;
}

interface TaskRecord {
  view: TaskView;
  readonly controller: AbortController;
}

/** Options of a TaskRegistry. */
export interface TaskRegistryOptions {
  /** Hears every change of every task (the `task` push channel). */
  readonly publish?: (view: TaskView) => void;
  readonly now?: () => Date;
}

/** The control plane's tasks: running ones and the last few finished ones. */
export class TaskRegistry {
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly publish: (view: TaskView) => void;
  private readonly now: () => Date;

  constructor(options: TaskRegistryOptions = {}) {
    this.publish = options.publish ?? (() => {});
    this.now = options.now ?? (() => new Date());
  }

  /** Starts a task for one call; `callerSignal` (the connection or window going away) cancels it too. */
  begin(channel: RequestChannel, args: unknown, callerSignal: AbortSignal): RunningTask {
    const id = randomUUID();
    const controller = new AbortController();
    const name = args !== null && typeof args === 'object' && typeof (args as { name?: unknown }).name === 'string' ? (args as { name: string }).name : null;
    const record: TaskRecord = {
      controller,
      view: {
        id, channel, name, state: 'running', value: 0, step: null, message: null,
        started_at: this.now().toISOString(), ended_at: null, cancel_requested: false, error: null,
      },
    };
    this.tasks.set(id, record);
    const onCallerGone = (): void => this.requestCancel(record);
    if (callerSignal.aborted) onCallerGone();
    else callerSignal.addEventListener('abort', onCallerGone, { once: true });
    this.publish(record.view);
    return {
      id,
      signal: controller.signal,
      progress: (p) => {
        if (record.view.state !== 'running') return { ...p, task_id: id };
        // A step may report a smaller fraction than an earlier one (a sub-step restarting its
        // own scale); the task's value only moves forward so a bar never jumps back.
        const value = Math.max(record.view.value, clamp01(p.value ?? record.view.value));
        this.update(record, { value, step: p.step, message: p.message });
        return { ...p, value, task_id: id };
      },
      finish: (outcome) => {
        callerSignal.removeEventListener('abort', onCallerGone);
        const state: TaskState = outcome.ok ? 'done' : record.view.cancel_requested ? 'cancelled' : 'failed';
        this.update(record, {
          state,
          value: state === 'done' ? 1 : record.view.value,
          ended_at: this.now().toISOString(),
          error: !outcome.ok && state === 'failed' ? outcome.error : null,
        });
        this.prune();
        return record.view;
      },
    };
  }

  /** Asks a running task to stop. E_NOT_FOUND for an unknown id; a finished task is returned as it is. */
  cancel(id: string): TaskView {
    const record = this.tasks.get(id);
    if (!record) throw new FramewormError('E_NOT_FOUND', `no task ${id} (it may have finished long ago)`);
    if (record.view.state === 'running') this.requestCancel(record);
    return record.view;
  }

  /** Running tasks and the recent finished ones, oldest first. */
  list(): TaskView[] {
    return [...this.tasks.values()].map((t) => t.view);
  }

  /** Cancels every running task (the control plane is going away). */
  cancelAll(): void {
    for (const record of this.tasks.values()) if (record.view.state === 'running') this.requestCancel(record);
  }

  private requestCancel(record: TaskRecord): void {
    if (record.view.cancel_requested || record.view.state !== 'running') return;
    this.update(record, { cancel_requested: true });
    record.controller.abort(new FramewormError('E_CONFLICT', `${record.view.channel} was cancelled`));
  }

  private update(record: TaskRecord, change: Partial<TaskView>): void {
    record.view = { ...record.view, ...change };
    this.publish(record.view);
  }

  /** Keeps at most KEEP_FINISHED finished tasks (Maps iterate oldest first). */
  private prune(): void {
    let finished = [...this.tasks.values()].filter((t) => t.view.state !== 'running').length;
    for (const [id, t] of this.tasks) {
      if (finished <= KEEP_FINISHED) break;
      if (t.view.state !== 'running') {
        this.tasks.delete(id);
        finished--;
      }
    }
  }
}

function clamp01(v: number): number {
  return Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
}
