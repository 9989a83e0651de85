/** The in-memory room directory, message bus, node registry and settings: the shared behaviour table, plus what only memory does. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRoomDirectory } from '../../server/cluster/memoryRoomDirectory.js';
import { MemoryBusHub, MemoryMessageBus } from '../../server/cluster/memoryMessageBus.js';
import { MemoryNodeHub, MemoryNodeRegistry } from '../../server/cluster/memoryNodeRegistry.js';
import { MemoryRuntimeSettings } from '../../server/cluster/runtimeSettings.js';
import { clusterBehaviour } from '../helpers/clusterBehaviour.js';

clusterBehaviour('memory', async () => {
  const busHub = new MemoryBusHub();
  const nodeHub = new MemoryNodeHub();
  const closers: (() => Promise<void>)[] = [];
  const made = <T extends { close(): Promise<void> }>(part: T): T => {
    closers.push(() => part.close());
    return part;
  };
  return {
    directory: async () => made(new MemoryRoomDirectory()),
    bus: async (nodeId, onListenerError) => made(new MemoryMessageBus(nodeId, { hub: busHub, onListenerError })),
    nodeRegistry: async (timing) => made(new MemoryNodeRegistry({ hub: nodeHub, ...timing })),
    settings: async () => made(new MemoryRuntimeSettings()),
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
  };
});

test('memory bus: one node id per hub', async () => {
  const hub = new MemoryBusHub();
  const a = new MemoryMessageBus('a', { hub });
  assert.throws(() => new MemoryMessageBus('a', { hub }), /already on this bus/);
  await a.close();
});
