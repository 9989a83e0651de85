/**
 * The backup ingest policy, on a fake clock: stall and disconnect failover,
 * fail-back after the primary stayed healthy, manual switches and pins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackupSwitch, BackupSwitchError, type SlotProbe } from '../../server/rooms/backupSwitch.js';
import type { SourceSlot } from '../../server/sources/mediaSource.js';

function rig(options: { stallMs?: number; failbackMs?: number } = {}) {
  let now = 0;
  const slots = new Map<SourceSlot, SlotProbe>();
  const decisions: string[] = [];
  const policy = new BackupSwitch({
    stallMs: options.stallMs ?? 1000,
    failbackMs: options.failbackMs ?? 10_000,
    probe: (slot) => slots.get(slot),
    checkIntervalMs: 0,
    now: () => now,
  });
  policy.on('switched', (d) => decisions.push(`${d.from ?? '-'}>${d.to ?? '-'} ${d.reason}`));
  return {
    policy,
    decisions,
    at: (t: number) => {
      now = t;
    },
    connect: (slot: SourceSlot) => slots.set(slot, { since: now, lastMediaAt: null }),
    media: (slot: SourceSlot) => {
      const probe = slots.get(slot);
      if (probe) probe.lastMediaAt = now;
    },
    disconnect: (slot: SourceSlot) => slots.delete(slot),
    /** Advances to `until` in 100 ms ticks; the listed slots deliver media at each tick. */
    run: (from: number, until: number, delivering: SourceSlot[]) => {
      for (let t = from; t <= until; t += 100) {
        now = t;
        for (const slot of delivering) {
          const probe = slots.get(slot);
          if (probe) probe.lastMediaAt = t;
        }
        policy.evaluate();
      }
    },
  };
}

test('goes on air with the primary; the backup is on air only while there is no primary', () => {
  const r = rig();
  r.connect('backup');
  r.policy.evaluate();
  assert.equal(r.policy.active, 'backup');
  r.connect('primary');
  r.run(0, 500, ['primary', 'backup']);
  assert.equal(r.policy.active, 'backup', 'not before the fail-back time');
  assert.deepEqual(r.decisions, ['->backup initial']);
  assert.equal(r.policy.switches, 0, 'going on air is not a switch');
});

test('a primary that stops sending video for INGEST_STALL_MS switches to a healthy backup, not sooner', () => {
  const r = rig({ stallMs: 1000 });
  r.connect('primary');
  r.connect('backup');
  r.run(0, 2000, ['primary', 'backup']);
  assert.equal(r.policy.active, 'primary');
  // Primary's last packet at 2000.
  r.run(2100, 2900, ['backup']);
  assert.equal(r.policy.active, 'primary', 'still within the stall threshold');
  r.run(3000, 3000, ['backup']);
  assert.equal(r.policy.active, 'backup');
  assert.deepEqual(r.decisions.slice(1), ['primary>backup stall']);
  assert.equal(r.policy.lastSwitch?.at, 3000);
});

test('no switch to a backup that is stalled too', () => {
  const r = rig();
  r.connect('primary');
  r.connect('backup');
  r.run(0, 1000, ['primary', 'backup']);
  r.run(1100, 5000, []);
  assert.equal(r.policy.active, 'primary');
  // The backup comes back: now it is worth switching to.
  r.run(5100, 5100, ['backup']);
  assert.equal(r.policy.active, 'backup');
});

test('a disconnect switches at once; the primary fails back after INGEST_FAILBACK_S of health, and a relapse restarts the count', () => {
  const r = rig({ failbackMs: 3000 });
  r.connect('primary');
  r.connect('backup');
  r.run(0, 1000, ['primary', 'backup']);
  r.disconnect('primary');
  r.policy.evaluate();
  assert.equal(r.policy.active, 'backup');
  r.at(1100);
  r.connect('primary');
  r.run(1100, 2500, ['primary', 'backup']);
  // A 1.2 s gap in the primary's video (unhealthy from 3500): its health count starts over.
  r.run(2600, 3700, ['backup']);
  r.run(3800, 6700, ['primary', 'backup']);
  assert.equal(r.policy.active, 'backup', 'healthy for 2.9 s only since the relapse');
  r.run(6800, 6800, ['primary', 'backup']);
  assert.equal(r.policy.active, 'primary');
  assert.deepEqual(r.decisions, ['->primary initial', 'primary>backup disconnect', 'backup>primary failback']);
  assert.equal(r.policy.switches, 2);
});

test('the slot on air leaving with nothing else goes off air', () => {
  const r = rig();
  r.connect('primary');
  r.policy.evaluate();
  r.disconnect('primary');
  r.policy.evaluate();
  assert.equal(r.policy.active, undefined);
  assert.deepEqual(r.decisions, ['->primary initial', 'primary>- disconnect']);
});

test('manual: an empty or stalled slot is refused and changes nothing; the backup pinned stays until the operator or a failure', () => {
  const r = rig({ failbackMs: 1000 });
  r.connect('primary');
  r.run(0, 500, ['primary']);
  assert.throws(
    () => r.policy.manual('backup'),
    (e: unknown) => e instanceof BackupSwitchError && e.kind === 'empty',
  );
  r.connect('backup');
  assert.throws(
    () => r.policy.manual('backup'),
    (e: unknown) => e instanceof BackupSwitchError && e.kind === 'unhealthy',
  );
  assert.equal(r.policy.active, 'primary');
  r.run(600, 1000, ['primary', 'backup']);
  r.policy.manual('backup');
  assert.equal(r.policy.active, 'backup');
  assert.equal(r.policy.pinned, 'backup');
  r.run(1100, 5000, ['primary', 'backup']);
  assert.equal(r.policy.active, 'backup', 'no fail-back while pinned');
  r.policy.manual('primary');
  assert.equal(r.policy.active, 'primary');
  assert.equal(r.policy.pinned, undefined);
  // Pinned again; the backup then stalls: failover to the primary ends the pin.
  r.policy.manual('backup');
  r.run(5100, 6100, ['primary']);
  assert.equal(r.policy.active, 'primary');
  assert.equal(r.policy.pinned, undefined);
  assert.deepEqual(r.decisions.slice(1), ['primary>backup manual', 'backup>primary manual', 'primary>backup manual', 'backup>primary stall']);
  // A manual switch to the slot on air is a no-op.
  assert.equal(r.policy.manual('primary'), undefined);
});

test('the check timer runs by itself and stops on close', (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  let evaluated = 0;
  const policy = new BackupSwitch({
    stallMs: 1000,
    failbackMs: 1000,
    probe: () => {
      evaluated++;
      return undefined;
    },
    checkIntervalMs: 5,
  });
  assert.equal(evaluated, 0);
  t.mock.timers.tick(15);
  const checked = evaluated;
  assert.ok(checked > 0, 'the timer checked by itself');
  policy.close();
  t.mock.timers.tick(100);
  assert.equal(evaluated, checked, 'no check after close');
});

test('halfway to a stall it asks once to pre-arm the healthy other slot; again after the slot on air recovered', () => {
  const r = rig({ stallMs: 1000 });
  const prearms: string[] = [];
  r.policy.on('prearm', (slot) => prearms.push(`${slot}@${r.policy.active}`));
  r.connect('primary');
  r.connect('backup');
  r.run(0, 1000, ['primary', 'backup']);
  r.run(1100, 1400, ['backup']);
  assert.deepEqual(prearms, [], 'quiet for 400 ms only');
  r.run(1500, 1800, ['backup']);
  assert.deepEqual(prearms, ['backup@primary'], 'once, at 500 ms of quiet');
  // A hiccup: the primary speaks again, then goes quiet once more.
  r.run(1900, 2000, ['primary', 'backup']);
  r.run(2100, 2600, ['backup']);
  assert.deepEqual(prearms, ['backup@primary', 'backup@primary']);
  assert.equal(r.policy.active, 'primary');
  r.run(2700, 3000, ['backup']);
  assert.equal(r.policy.active, 'backup');
  assert.equal(prearms.length, 2, 'no pre-arm for the switch itself');
});

test('no pre-arm when the other slot is not healthy', () => {
  const r = rig();
  const prearms: string[] = [];
  r.policy.on('prearm', (slot) => prearms.push(slot));
  r.connect('primary');
  r.connect('backup');
  // The backup never delivered anything.
  r.run(0, 500, ['primary']);
  r.run(600, 3000, []);
  assert.deepEqual(prearms, []);
});
