/** NodeDrain (server/cluster/placement/nodeDrain.ts) with in-memory settings and fake clients. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeDrain, type DrainableMember } from '../../server/cluster/placement/nodeDrain.js';
import { MemoryRuntimeSettings } from '../../server/cluster/runtimeSettings.js';
import type { NodeRecord, NodeState } from '../../server/cluster/nodeRegistry.js';
import { createLogger } from '../../server/observability/logger.js';
import { waitFor } from '../helpers/wait.js';

// The drain's timers are unref'd (they must not keep a server alive): keep the test's loop alive.
let keepAlive: NodeJS.Timeout;
before(() => {
  keepAlive = setInterval(() => undefined, 1_000);
});
after(() => clearInterval(keepAlive));

const elsewhere = { id: 'b', publicUrl: 'http://b:3000' } as NodeRecord;

function setup(options: { placeable?: boolean } = {}) {
  const settings = new MemoryRuntimeSettings();
  const states: NodeState[] = [];
  const members = new Set<DrainableMember & { told: string[] }>();
  const placements = { asked: 0 };
  const member = (room: string) => {
    const m = {
      request: { room, role: 'viewer' as const },
      told: [] as string[],
      move(target: { url: string }) {
        m.told.push(target.url);
      },
    };
    members.add(m);
    return m;
  };
  const drain = new NodeDrain({
    nodeId: 'a',
    nodes: { update: (change) => change.state && states.push(change.state) },
    settings,
    placeElsewhere: async () => {
      placements.asked++;
      return options.placeable === false ? undefined : { node: elsewhere, alternates: [] };
    },
    members: () => members,
    logger: createLogger('silent'),
    nudgeEveryMs: 20,
    retellAfterMs: 100,
  });
  return { settings, states, members, member, drain, placements };
}

test('the drain flag of this node starts and stops the drain; other nodes flags are not ours', async () => {
  const { settings, states, drain } = setup();
  await settings.set({ setting: 'drain', node: 'other', value: true });
  assert.equal(drain.draining, false);
  await settings.set({ setting: 'drain', node: 'a', value: true });
  assert.equal(drain.draining, true);
  await settings.set({ setting: 'drain', node: 'a', value: undefined });
  assert.equal(drain.draining, false);
  assert.deepEqual(states, ['draining', 'serving']);
  drain.close();
});

test('clients are told where to move, told again if still here later, and the drain reports empty once they left', async () => {
  const { member, members, drain } = setup();
  const first = member('r1');
  const second = member('r2');
  drain.start('test');
  // At least once each: a client still here is told again every 100 ms, so "exactly once"
  // can pass between two polls of a busy machine (seen in CI).
  await waitFor(() => first.told.length >= 1 && second.told.length >= 1, { description: 'both told', timeoutMs: 2_000 });
  assert.equal(first.told[0], 'http://b:3000');
  members.delete(first);
  const toldWhenItLeft = first.told.length;
  const secondBefore = second.told.length;
  await waitFor(() => second.told.length > secondBefore, { description: 'the one still here told again', timeoutMs: 2_000 });
  assert.equal(first.told.length, toldWhenItLeft, 'a client that left is not told again');
  assert.equal(await drain.whenEmpty(50, 10), 'deadline');
  members.delete(second);
  assert.equal(await drain.whenEmpty(1_000, 10), 'empty');
  drain.close();
});

test('with nowhere to go, clients are not told (yet); a stale flag from a previous run is cleared', async () => {
  const { member, drain, settings, placements } = setup({ placeable: false });
  const stuck = member('r');
  drain.start('test');
  // Several rounds that found nowhere to send it, then: still not told.
  await waitFor(() => placements.asked >= 3, { description: 'three placement attempts', timeoutMs: 2_000 });
  assert.deepEqual(stuck.told, []);
  drain.close();

  const again = setup();
  await again.settings.set({ setting: 'drain', node: 'a', value: true });
  await again.drain.clearStaleFlag();
  assert.equal(again.settings.snapshot().drain['a'], undefined);
  assert.equal(settings.snapshot().drain['a'], undefined);
  again.drain.close();
});
