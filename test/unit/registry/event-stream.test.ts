import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FramewormEvent } from '../../../main/events/event-types.js';
import { isEvent } from '../../../main/events/event-types.js';
import { makeRegistry, versionInput, type TestRegistry } from './helpers.js';

let t: TestRegistry;
let seen: FramewormEvent[];
let unsubscribe: () => void;

beforeEach(() => {
  t = makeRegistry();
  seen = [];
  unsubscribe = t.registry.events.subscribe((e) => seen.push(e));
});

afterEach(() => {
  unsubscribe();
  t.cleanup();
});

describe('the typed event stream', () => {
  it('delivers committed events with their row ids, in commit order, matching the events table', () => {
    t.registry.registerVersion(versionInput('m'));
    t.registry.registerVersion(versionInput('m'));
    t.registry.promote('m', 'v1', 'production');
    t.registry.promote('m', 'v2', 'production', { events: [{ event: 'deploy', fields: { version: 'v2', type: 'vae', target: 'embedded', stage: 'production', endpoint: null, dataset_checksum: null } }] });
    expect(seen.map((e) => e.event)).toEqual(['register', 'register', 'promote', 'archive', 'promote', 'deploy']);
    expect(seen.map((e) => e.id)).toEqual(t.registry.listEvents('m', 100).map((e) => e.id));
    const archive = seen.find((e) => isEvent(e, 'archive'));
    expect(archive && isEvent(archive, 'archive') ? archive.replaced_by : null).toBe('v2');
    expect(seen.every((e) => e.model === 'm')).toBe(true);
  });

  it('delivers nothing for a change that did not commit', () => {
    t.registry.registerVersion(versionInput('m'));
    seen.length = 0;
    expect(() =>
      t.registry.atomically('m', () => {
        t.registry.registerVersion(versionInput('m'));
        t.registry.promote('m', 'v2', 'production');
        throw new Error('abort after staging two events');
      }),
    ).toThrow(/abort/);
    expect(seen).toEqual([]);
    expect(t.registry.listVersions('m').map((v) => v.version)).toEqual(['v1']);
    expect(t.log.read('m').map((l) => l.event)).toEqual(['register']);
  });

  it('keeps delivering when a subscriber throws, and stops after unsubscribe', () => {
    const stopBad = t.registry.events.subscribe(() => {
      throw new Error('bad subscriber');
    });
    t.registry.registerVersion(versionInput('m'));
    expect(seen).toHaveLength(1);
    stopBad();
    unsubscribe();
    t.registry.registerVersion(versionInput('m'));
    expect(seen).toHaveLength(1);
    expect(t.registry.listVersions('m')).toHaveLength(2);
  });
});
