/**
 * `npm run cluster` (scripts/cluster/localCluster.ts): two nodes and a
 * private redis-server come up with their links printed; SIGINT to the
 * launcher alone stops every process it started (nodes, their media workers,
 * Redis) and removes its temp dir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnTracked } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/** Every live descendant of `pid` (from /proc). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces, so read after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  const walk = (parent: number): void => {
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('the local cluster launcher prints every node link and leaves nothing behind on SIGINT', { timeout: 120_000 }, async () => {
  const launcher = spawnTracked(process.execPath, ['--import', 'tsx', 'scripts/cluster/localCluster.ts', '2'], {
    name: 'cluster',
    processGroup: false,
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  try {
    await launcher.waitForLine(/Ctrl-C stops everything/, 90_000);
    const output = launcher.output();
    for (const node of ['node-1', 'node-2']) assert.match(output, new RegExp(`^${node}  http://127\\.0\\.0\\.\\d:\\d+$`, 'm'));
    assert.equal(output.match(/^ {2}Broadcast: http:\/\/127\.0\.0\.[23]:\d+\/broadcast\?room=live&token=\S+$/gm)?.length, 2, output);
    assert.equal(output.match(/^ {2}Watch: +http:\/\/127\.0\.0\.[23]:\d+\/watch\?room=live/gm)?.length, 2, output);
    assert.equal(output.match(/^ {2}Dashboard: http:\/\/127\.0\.0\.[23]:\d+\/dashboard\?token=\S+$/gm)?.length, 2, output);
    const stateDir = /^state dir: (\S+)$/m.exec(output)?.[1];
    assert.ok(stateDir && fs.existsSync(stateDir), 'the state dir exists while running');

    // The nodes form one cluster: one node answers where to join with the other as alternate.
    const firstUrl = /^node-1 {2}(\S+)$/m.exec(output)![1]!;
    const placement = (await (await fetch(`${firstUrl}/api/rooms/live/join?role=viewer`)).json()) as { node: string; alternates: string[] };
    assert.equal(placement.alternates.length, 1);

    const children = descendants(launcher.pid!);
    assert.ok(children.length >= 3, `redis and two nodes (and their workers) run: ${children.join(' ')}`);

    launcher.kill('SIGINT');
    const exit = await launcher.exited;
    assert.equal(exit.code, 0, launcher.output().slice(-2000));
    assert.match(launcher.output(), /cluster stopped/);
    await waitFor(() => children.every((pid) => !alive(pid)), {
      description: 'every process the launcher started is gone',
      timeoutMs: 5_000,
      progress: () => children.filter(alive).join(' '),
    });
    assert.equal(fs.existsSync(stateDir), false, 'the state dir is removed');
  } finally {
    await launcher.stop({ signal: 'SIGKILL' });
  }
});
