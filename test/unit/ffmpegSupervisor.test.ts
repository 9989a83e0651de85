/**
 * The ffmpeg supervisor against real ffmpeg processes (tiny lavfi sources
 * into the null muxer: light enough for a unit test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { FfmpegPidFiles } from '../../server/ffmpeg/ffmpegPidFiles.js';
import { FfmpegStats } from '../../server/ffmpeg/ffmpegStats.js';
import { FfmpegSupervisor, type FfmpegExit, type FfmpegJob } from '../../server/ffmpeg/ffmpegSupervisor.js';
import { waitFor } from '../helpers/wait.js';

const silent = pino({ level: 'silent' });

/** Runs until killed. */
const endlessJob = (): FfmpegJob => ({
  input: 'testsrc=size=64x64:rate=5',
  inputOptions: ['-loglevel', 'error', '-re', '-f', 'lavfi'],
  outputs: [{ url: '/dev/null', options: ['-f', 'null'] }],
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0): look at its state.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-ffsup-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a killed ffmpeg is restarted with growing backoff; pid files follow the process; close() leaves nothing running', async (t) => {
  const pidFiles = new FfmpegPidFiles(tempDir(t), silent);
  await pidFiles.reapOrphans();
  const stats = new FfmpegStats();
  const supervisor = new FfmpegSupervisor({ label: 'test', job: endlessJob, logger: silent, pidFiles, stats, backoffMs: [300, 900] });
  t.after(() => supervisor.close());
  const starts: { pid: number; at: number }[] = [];
  const exits: (FfmpegExit & { at: number })[] = [];
  supervisor.on('started', ({ pid }) => starts.push({ pid, at: Date.now() }));
  supervisor.on('exited', (exit) => exits.push({ ...exit, at: Date.now() }));
  supervisor.start();

  const first = await waitFor(() => starts[0], { description: 'ffmpeg to start' });
  assert.equal(supervisor.pid, first.pid);
  assert.deepEqual(pidFiles.tracked(), [first.pid], 'pid file written while it runs');
  assert.equal(stats.running, 1);

  for (const [i, expectedDelay] of [300, 900].entries()) {
    const victim = starts[i]!.pid;
    process.kill(victim, 'SIGKILL');
    const next = await waitFor(() => starts[i + 1], { description: `restart #${i + 1}` });
    const exit = exits[i]!;
    assert.equal(exit.kind, 'signal');
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(exit.pid, victim);
    assert.equal(exit.restartInMs, expectedDelay, 'quick deaths in a row back off further');
    assert.ok(next.at - exit.at >= expectedDelay - 20, `restarted after ${next.at - exit.at} ms, backoff ${expectedDelay}`);
    assert.notEqual(next.pid, victim);
    assert.ok(!alive(victim));
    await waitFor(() => pidFiles.tracked().length === 1 && pidFiles.tracked()[0] === next.pid, { description: 'pid file of the dead ffmpeg removed' });
  }
  assert.equal(supervisor.restarts, 2);
  assert.equal(stats.restarts, 2);
  assert.equal(stats.starts, 3);
  assert.equal(stats.exits.signal, 2);

  const last = starts[2]!.pid;
  supervisor.close();
  supervisor.close(); // idempotent
  await waitFor(() => !alive(last), { description: 'close() to kill ffmpeg' });
  await waitFor(() => pidFiles.tracked().length === 0 && stats.running === 0, { description: 'pid file removed and running count back to 0' });
  assert.equal(exits.length, 2, 'close() is not an exit to report or restart');
  assert.equal(supervisor.pid, undefined);
  assert.throws(() => supervisor.start(), /closed/);
});

test('a long healthy run resets the backoff', async (t) => {
  const supervisor = new FfmpegSupervisor({ label: 'healthy', job: endlessJob, logger: silent, backoffMs: [100, 5000], healthyRunMs: 600 });
  t.after(() => supervisor.close());
  const starts: { pid: number; at: number }[] = [];
  const exits: FfmpegExit[] = [];
  supervisor.on('started', ({ pid }) => starts.push({ pid, at: Date.now() }));
  supervisor.on('exited', (exit) => exits.push(exit));
  supervisor.start();
  const first = await waitFor(() => starts[0], { description: 'ffmpeg to start' });
  process.kill(first.pid, 'SIGKILL');
  const second = await waitFor(() => starts[1], { description: 'the restart after a quick death' });
  assert.equal(exits[0]!.restartInMs, 100);
  await waitFor(() => Date.now() - second.at > 700, { description: 'a run longer than healthyRunMs' });
  process.kill(second.pid, 'SIGKILL');
  await waitFor(() => exits[1], { description: 'the second exit' });
  assert.ok(exits[1]!.ranForMs >= 600);
  assert.equal(exits[1]!.restartInMs, 100, 'back to the first delay, not the second (5000)');
});

test('an ffmpeg that fails reports its exit code and stderr lines, and is retried', async (t) => {
  const missing = path.join(tempDir(t), 'no-such-input.mp4');
  const stats = new FfmpegStats();
  const supervisor = new FfmpegSupervisor({
    label: 'failing',
    job: () => ({ input: missing, inputOptions: ['-loglevel', 'error'], outputs: [{ url: '/dev/null', options: ['-f', 'null'] }] }),
    logger: silent,
    stats,
    backoffMs: [100],
    stderrLines: 3,
  });
  t.after(() => supervisor.close());
  const exits: FfmpegExit[] = [];
  supervisor.on('exited', (exit) => exits.push(exit));
  supervisor.start();
  await waitFor(() => exits.length >= 2, { description: 'two failed runs' });
  const exit = exits[0]!;
  assert.equal(exit.kind, 'code');
  assert.equal(exit.code, 1);
  assert.equal(exit.signal, null);
  assert.ok(exit.stderr.length > 0 && exit.stderr.length <= 3, `stderr ring holds at most 3 lines: ${JSON.stringify(exit.stderr)}`);
  assert.ok(
    exit.stderr.some((line) => line.includes('No such file or directory')),
    `stderr names the problem: ${JSON.stringify(exit.stderr)}`,
  );
  assert.deepEqual(supervisor.lastExit?.stderr, exits[exits.length - 1]!.stderr);
  assert.ok(stats.exits.code >= 2);
});

test('an ffmpeg binary that cannot be spawned is an error exit, retried until close()', async () => {
  const supervisor = new FfmpegSupervisor({ label: 'no binary', job: endlessJob, logger: silent, ffmpegPath: '/nonexistent/ffmpeg', backoffMs: [50] });
  const exits: FfmpegExit[] = [];
  supervisor.on('exited', (exit) => exits.push(exit));
  supervisor.start();
  await waitFor(() => exits.length >= 2, { description: 'two failed spawns' });
  supervisor.close();
  assert.equal(exits[0]!.kind, 'error');
  assert.equal(exits[0]!.pid, undefined);
  assert.match(exits[0]!.message, /\/nonexistent\/ffmpeg not found/);
});

test('a command that cannot be built is an error exit, not an exception', async () => {
  const supervisor = new FfmpegSupervisor({
    label: 'bad job',
    job: () => {
      throw new Error('no such rendition');
    },
    logger: silent,
    backoffMs: [50],
  });
  const exits: FfmpegExit[] = [];
  supervisor.on('exited', (exit) => exits.push(exit));
  supervisor.start();
  await waitFor(() => exits.length >= 2, { description: 'two failed builds' });
  supervisor.close();
  assert.equal(exits[0]!.kind, 'error');
  assert.match(exits[0]!.message, /could not build the ffmpeg command: no such rendition/);
});

test('an ffmpeg orphaned by a crashed server is reaped at the next start; a live server keeps its own', async (t) => {
  const dir = tempDir(t);
  const fixture = fileURLToPath(new URL('./ffmpegSupervisorOrphan.fixture.ts', import.meta.url));
  const server = spawn(process.execPath, ['--import', 'tsx', fixture, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => server.kill('SIGKILL'));
  let out = '';
  server.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const pid = await waitFor(() => (/^(\d+)\n/.exec(out) ? Number(/^(\d+)\n/.exec(out)![1]) : undefined), {
    description: 'the fixture server to start its ffmpeg',
    timeoutMs: 30_000,
  });
  t.after(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  const pidFiles = new FfmpegPidFiles(dir, silent);
  assert.deepEqual(pidFiles.tracked(), [pid]);

  // While its server lives, the ffmpeg is not an orphan.
  assert.equal(await pidFiles.reapOrphans(), 0);
  assert.ok(alive(pid));
  assert.deepEqual(pidFiles.tracked(), [pid]);

  server.kill('SIGKILL');
  await waitFor(() => server.exitCode !== null || server.signalCode !== null, { description: 'the fixture server to die' });
  assert.ok(alive(pid), 'its ffmpeg outlives the crashed server');

  assert.equal(await pidFiles.reapOrphans(), 1);
  await waitFor(() => !alive(pid), { description: 'the orphan to be killed' });
  assert.deepEqual(pidFiles.tracked(), []);
});

test('a pid file whose pid now belongs to another process is forgotten without killing it', async (t) => {
  const dir = tempDir(t);
  const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => bystander.kill('SIGKILL'));
  const pid = bystander.pid!;
  // Recorded with another start time: the pid was reused since.
  fs.writeFileSync(path.join(dir, String(pid)), JSON.stringify({ pid, startTime: '1', ownerPid: 999_999_999, label: 'old' }));
  assert.equal(await new FfmpegPidFiles(dir, silent).reapOrphans(), 0);
  assert.ok(alive(pid));
  assert.deepEqual(fs.readdirSync(dir), []);
});
