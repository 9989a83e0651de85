/**
 * The real entry point refuses to start on an HLS_DIR that is not the
 * server's own: one clear line, exit code 1, nothing written into it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hls-dir-startup-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function runMain(hlsDir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: 'warn', HOST: '127.0.0.1', LISTEN_IP: '127.0.0.1', NUM_WORKERS: '1', PORT: '0', HLS_DIR: hlsDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`main.ts did not exit; stdout: ${stdout} stderr: ${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('an HLS_DIR writable by everyone refuses start with one line', async () => {
  const dir = path.join(tmp, 'open');
  fs.mkdirSync(dir);
  fs.chmodSync(dir, 0o777);
  const { code, stdout, stderr } = await runMain(dir);
  assert.equal(code, 1);
  assert.ok(!stdout.includes('is live'), 'never served');
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.match(lines[0]!, /^floodlight: .*HLS_DIR .*open is writable by everyone \(mode 777\); chmod it to 750 or 700$/);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('an HLS_DIR owned by another user refuses start with one line', { skip: process.getuid?.() !== 0 && 'needs root to chown' }, async () => {
  const dir = path.join(tmp, 'foreign');
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.chownSync(dir, 65534, 65534);
  const { code, stderr } = await runMain(dir);
  assert.equal(code, 1);
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.match(lines[0]!, /^floodlight: .*HLS_DIR .*foreign is owned by uid 65534, not by this server/);
  assert.deepEqual(fs.readdirSync(dir), []);
});
