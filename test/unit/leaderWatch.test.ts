/**
 * LeaderWatch: a follower judges its leader silent only when the mirror has
 * published nothing for 3 target durations while its own recorder went on —
 * never when both are quiet (the input stopped), before the mirror's first
 * publication, or once the leader's playlist ended. Timers and the clock are
 * mocked; the real follower (SIGSTOPped leader) is in hlsMirror.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { LeaderWatch } from '../../server/hls/mirror/leaderWatch.js';

class Rendition extends EventEmitter<{ published: [] }> {
  targetDuration = 1;
  ended = false;
  status(): { targetDuration: number } {
    return { targetDuration: this.targetDuration };
  }
  get dir(): string {
    return '/nonexistent';
  }
  get playlist(): string | undefined {
    return undefined;
  }
}

/** A watch on one mirrored and one own rendition (enable the mock timers first). */
function setup(t: TestContext) {
  const mirrored = new Rendition();
  const own = new Rendition();
  const silences: number[] = [];
  const watch = new LeaderWatch({ mirrored: [mirrored], own: [own], onSilent: (ms) => silences.push(ms), now: () => Date.now() });
  /** Both publish a part every 250 ms for `ms` (only `own` when `leaderSilent`). */
  const run = (ms: number, { leaderSilent = false, ownSilent = false } = {}): void => {
    for (let elapsed = 0; elapsed < ms; elapsed += 250) {
      if (!leaderSilent) mirrored.emit('published');
      if (!ownSilent) own.emit('published');
      t.mock.timers.tick(250);
    }
  };
  return { mirrored, own, silences, watch, run };
}

test('a leader silent for 3 target durations while the own recorder goes on is lost, once', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const { silences, run } = setup(t);
  run(5_000);
  assert.deepEqual(silences, [], 'a leader delivering is never silent');
  // The last part came 250 ms before the silence begins: 2.75 s silent here.
  run(2_500, { leaderSilent: true });
  assert.deepEqual(silences, [], 'not before 3 target durations');
  run(500, { leaderSilent: true });
  assert.equal(silences.length, 1);
  assert.ok(silences[0]! >= 3_000 && silences[0]! <= 3_250, `silent ${silences[0]} ms`);
  run(5_000, { leaderSilent: true });
  assert.equal(silences.length, 1, 'reported once');
});

test('the wait follows the leader’s target duration', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const { mirrored, silences, run } = setup(t);
  mirrored.targetDuration = 2;
  run(1_000);
  run(5_500, { leaderSilent: true });
  assert.deepEqual(silences, [], '5.75 s < 6 s with 2 s targets');
  run(500, { leaderSilent: true });
  assert.equal(silences.length, 1);
});

test('both quiet (the input stopped): not the leader’s fault', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const { silences, run } = setup(t);
  run(2_000);
  run(10_000, { leaderSilent: true, ownSilent: true });
  assert.deepEqual(silences, []);
});

test('before the mirror’s first publication: the pulls decide alone', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const { silences, run } = setup(t);
  run(10_000, { leaderSilent: true });
  assert.deepEqual(silences, []);
});

test('after the leader’s playlist ended (the room closed there): nothing', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const { mirrored, silences, run } = setup(t);
  run(1_000);
  mirrored.ended = true;
  run(10_000, { leaderSilent: true });
  assert.deepEqual(silences, []);
});

test('close() is idempotent and stops the watch', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const { mirrored, own, silences, watch, run } = setup(t);
  run(1_000);
  watch.close();
  watch.close();
  run(10_000, { leaderSilent: true });
  assert.deepEqual(silences, []);
  assert.equal(mirrored.listenerCount('published') + own.listenerCount('published'), 0, 'listeners removed');
});
