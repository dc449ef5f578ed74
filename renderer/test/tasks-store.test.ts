import { describe, expect, it } from 'vitest';
import type { TaskView } from '../../preload/contract';
import { createTasksStore, orderedTasks } from '../src/stores/tasks-store';
import { FakeControlPlane } from './fake-control-plane';

function task(id: string, state: TaskView['state'], second: number): TaskView {
  return {
    id, channel: 'deploy.start', name: 'mnist', state, value: state === 'running' ? 0.4 : 1, step: 'export', message: 'exporting',
    started_at: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(), ended_at: null, cancel_requested: false, error: null,
  };
}

describe('tasks store', () => {
  it('loads task.list, follows task pushes, and cancels through task.cancel', async () => {
    const cp = new FakeControlPlane();
    cp.tasks = [task('a', 'done', 1)];
    const store = createTasksStore(cp);
    store.getState().start();
    await store.getState().load();
    cp.emit('task', task('b', 'running', 2));
    expect(orderedTasks(store.getState().tasks).map((t) => [t.id, t.state])).toEqual([['a', 'done'], ['b', 'running']]);
    await store.getState().cancel('b');
    expect(cp.callsOf('task.cancel')).toEqual([{ task_id: 'b' }]);
    expect(store.getState().tasks['b']!.state).toBe('cancelled');
  });

  it('keeps every running task but only the 20 latest finished ones', () => {
    const store = createTasksStore(new FakeControlPlane());
    store.getState().apply(task('run', 'running', 0));
    for (let i = 1; i <= 30; i += 1) store.getState().apply(task(`t${i}`, 'done', i));
    const ids = orderedTasks(store.getState().tasks).map((t) => t.id);
    expect(ids).toHaveLength(21);
    expect(ids[0]).toBe('run');
    expect(ids[1]).toBe('t11');
  });
});
