/**
 * The real entry point (server/main.ts) as an operator meets it: startup
 * problems end with one clear line and exit code 1, never a stack trace;
 * SIGTERM exits 0; an unwritable HLS directory leaves WebRTC working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TokenService } from '../../server/auth/tokens.js';

const root = path.resolve(import.meta.dirname, '../..');

interface Started {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs main.ts until it exits, or until `until(stdout)` holds: then runs
 * `probe` against the live server and sends SIGTERM.
 */
function runMain(
  env: Record<string, string>,
  until?: (stdout: string) => boolean,
  probe?: (stdout: string) => Promise<void>,
  timeoutMs = 20_000,
): Promise<Started & { probeError?: unknown }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: root,
      env: {
        ...process.env,
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        LISTEN_IP: '127.0.0.1',
        NUM_WORKERS: '1',
        RTC_MIN_PORT: '47000',
        RTC_MAX_PORT: '47999',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    let probeError: unknown;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`main.ts did not finish in ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (until && !signalled && until(stdout)) {
        signalled = true;
        const done = () => child.kill('SIGTERM');
        if (probe)
          probe(stdout)
            .catch((error: unknown) => (probeError = error))
            .finally(done);
        else done();
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, probeError });
    });
  });
}

function assertOneClearLine(result: Started, pattern: RegExp): void {
  assert.equal(result.code, 1, `exit code ${result.code}; stderr: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got: ${result.stderr}`);
  assert.match(lines[0]!, /^floodlight: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

test('an invalid setting names the variable', async () => {
  assertOneClearLine(await runMain({ PORT: 'eighty' }), /PORT/);
  assertOneClearLine(await runMain({ RTC_MIN_PORT: '50000', RTC_MAX_PORT: '40000' }), /RTC_MIN_PORT must be lower than RTC_MAX_PORT/);
  assertOneClearLine(await runMain({ HLS_RENDITIONS: 'big' }), /HLS_RENDITIONS/);
});

test('a missing worker binary says how to build it', async () => {
  assertOneClearLine(await runMain({ MEDIASOUP_WORKER_BIN: '/nonexistent/mediasoup-worker' }), /npm run setup/);
});

test('a port in use says so', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    assertOneClearLine(await runMain({ PORT: String(port) }), new RegExp(`port ${port} is already in use`));
  } finally {
    blocker.close();
  }
});

test('starts with defaults, prints working links, and exits 0 on SIGTERM', { timeout: 30_000 }, async () => {
  const result = await runMain({ PORT: '0' }, (out) => out.includes('Rooms:'));
  assert.equal(result.code, 0, result.stderr);
  const broadcast = /Broadcast: (\S+)/.exec(result.stdout)?.[1];
  assert.ok(broadcast, result.stdout);
  const url = new URL(broadcast);
  assert.equal(url.pathname, '/broadcast');
  assert.equal(url.searchParams.get('room'), 'live');
  assert.match(url.searchParams.get('token') ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.match(result.stdout, /Watch: +\S+\/watch\?room=live/);
  assert.match(result.stdout, /AUTH_SECRET is not set/);
});

test('an unwritable HLS directory disables HLS and keeps WebRTC serving', { timeout: 30_000 }, async () => {
  // Root can write anywhere, so use a path below a regular file (ENOTDIR).
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-notdir-')), 'file');
  fs.writeFileSync(file, 'not a directory');
  const result = await runMain(
    { PORT: '0', HLS_DIR: path.join(file, 'hls'), LOG_LEVEL: 'error' },
    (out) => out.includes('Rooms:'),
    async (out) => {
      const port = Number(/Floodlight is live on port (\d+)/.exec(out)![1]);
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      const rooms = (await (await fetch(`${base}/api/rooms`)).json()) as { hls: { enabled: boolean; reason: string | null } };
      assert.equal(rooms.hls.enabled, false);
      assert.match(rooms.hls.reason ?? '', /not writable.*HLS_DIR/);
      // Signaling still accepts viewers.
      const { connectRaw, rawRequest } = await import('../helpers/rawSignaling.js');
      const socket = await connectRaw(base);
      const joined = await rawRequest(socket, 'join', { room: 'still-works', role: 'viewer' });
      socket.disconnect();
      assert.ok(joined.ok, JSON.stringify(joined));
    },
  );
  assert.equal(result.probeError, undefined, String(result.probeError));
  assert.equal(result.code, 0, result.stderr);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
});

test('npm run token prints a verifiable token and refuses without a secret', async () => {
  const secret = 'token-test-secret-token-test-secret';
  const run = (env: Record<string, string>, args: string[]) =>
    new Promise<Started>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/token.ts', ...args], { cwd: root, env: { ...process.env, ...env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
  const ok = await run({ AUTH_SECRET: secret }, ['--room', 'match', '--role', 'publisher', '--ttl', '2h']);
  assert.equal(ok.code, 0, ok.stderr);
  const claims = await new TokenService(secret).verifyForRoom(ok.stdout.trim(), 'match');
  assert.equal(claims.role, 'publisher');
  const noSecret = await run({ AUTH_SECRET: '' }, ['--room', 'match', '--role', 'publisher']);
  assert.equal(noSecret.code, 1);
  assert.match(noSecret.stderr, /AUTH_SECRET/);
  const badRole = await run({ AUTH_SECRET: secret }, ['--room', 'match', '--role', 'god']);
  assert.equal(badRole.code, 1);
  assert.match(badRole.stderr, /--role/);
});
