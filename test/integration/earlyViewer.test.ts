/** Viewers that arrive before the broadcast: the room costs no router or transport until it is live, then they play. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { HeadlessPublisher, HeadlessViewer } from '../helpers/headlessPeer.js';
import { waitFor } from '../helpers/wait.js';

let server: FloodlightServer;
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server.close();
});

test('a viewer that joins before the broadcast makes no transport until it starts, then plays; and again after a restart', { timeout: 60_000 }, async () => {
  const viewer = new HeadlessViewer({ url: server.url, room: 'early', name: 'early-viewer' });
  await viewer.join();
  assert.equal(viewer.stats().state, 'joined');
  assert.equal(viewer.stats().connectionState, 'new');
  assert.equal(server.pool.counts().transports, 0, 'no transport before the room is live');
  assert.equal(server.pool.counts().routers, 0, 'no router before the room is live');
  const token = await server.tokens.issue({ room: 'early', role: 'publisher' }, 600);
  let publisher = new HeadlessPublisher({ url: server.url, room: 'early', token, name: 'pub' });
  await publisher.publish();
  await viewer.waitForNewFrames(15);
  console.log('# first broadcast:', viewer.summary());
  await publisher.close();
  await waitFor(() => viewer.stats().consumers.every((c) => c.closed), { description: 'consumers closed', timeoutMs: 10_000 });
  publisher = new HeadlessPublisher({ url: server.url, room: 'early', token, name: 'pub2' });
  await publisher.publish();
  await viewer.waitForNewFrames(15);
  console.log('# second broadcast:', viewer.summary());
  assert.equal(viewer.stats().joins, 1);
  await Promise.all([viewer.close(), publisher.close()]);
});

import { SignalingError } from '../../client/src/sdk/errors.js';
test('NOT_LIVE at createTransport: the viewer waits for the next newProducer', { timeout: 60_000 }, async () => {
  const token = await server.tokens.issue({ room: 'race', role: 'publisher' }, 600);
  let publisher = new HeadlessPublisher({ url: server.url, room: 'race', token, name: 'pub' });
  await publisher.publish();
  const viewer = new HeadlessViewer({ url: server.url, room: 'race', name: 'race-viewer' });
  const original = viewer.signaling.request.bind(viewer.signaling);
  let refused = 0;
  viewer.signaling.request = ((name: string, payload: never) => {
    if (name === 'createTransport' && refused === 0) {
      refused++;
      return Promise.reject(new SignalingError('NOT_LIVE', 'not live (simulated)', name));
    }
    return original(name as 'leave', payload);
  }) as typeof viewer.signaling.request;
  await viewer.join();
  assert.equal(refused, 1);
  assert.equal(viewer.stats().connectionState, 'new');
  await publisher.close();
  publisher = new HeadlessPublisher({ url: server.url, room: 'race', token, name: 'pub2' });
  await publisher.publish();
  await viewer.waitForNewFrames(15);
  console.log('# after NOT_LIVE:', viewer.summary());
  assert.equal(viewer.stats().joins, 1);
  await Promise.all([viewer.close(), publisher.close()]);
});
