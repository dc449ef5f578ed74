/**
 * Long operations (deploys, promotions, rollbacks) as tasks, from `task.list` and `task` pushes,
 * so a deploy started here or from the CLI stays visible after navigating away.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { TaskView } from '../../../preload/contract';
import { describeError, type RendererClient } from '../bridge/client-types';

const KEEP_FINISHED = 20;

export interface TasksState {
  readonly tasks: Readonly<Record<string, TaskView>>;
  readonly error: string | null;
  load(): Promise<void>;
  apply(task: TaskView): void;
  /** Asks the control plane to cancel; the task's own push says when it has stopped. */
  cancel(id: string): Promise<void>;
  start(): () => void;
}

export type TasksStore = StoreApi<TasksState>;

/** Tasks oldest first: running ones, then the latest finished ones. */
export function orderedTasks(tasks: Readonly<Record<string, TaskView>>): TaskView[] {
  return Object.values(tasks).sort((a, b) => a.started_at.localeCompare(b.started_at));
}

function prune(tasks: Record<string, TaskView>): Record<string, TaskView> {
  const finished = orderedTasks(tasks).filter((t) => t.state !== 'running');
  for (const t of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) delete tasks[t.id];
  return tasks;
}

/** Creates the tasks store over a client. */
export function createTasksStore(client: RendererClient): TasksStore {
  return createStore<TasksState>()((set, get) => ({
    tasks: {},
    error: null,

    async load() {
      try {
        const list = await client.invoke('task.list', {});
        const tasks: Record<string, TaskView> = { ...get().tasks };
        for (const t of list) tasks[t.id] = t;
        set({ tasks: prune(tasks), error: null });
      } catch (err) {
        set({ error: `tasks: ${describeError(err)}` });
      }
    },

    apply(task) {
      set((s) => ({ tasks: prune({ ...s.tasks, [task.id]: task }) }));
    },

    async cancel(id) {
      try {
        get().apply(await client.invoke('task.cancel', { task_id: id }));
      } catch (err) {
        set({ error: `cancel: ${describeError(err)}` });
      }
    },

    start() {
      const off = client.on('task', (t) => get().apply(t));
      void get().load();
      return off;
    },
  }));
}
