import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { TokenError, TokenService, parseTtl } from '../../server/auth/tokens.js';

const secret = 'unit-test-secret-unit-test-secret';
const tokens = new TokenService(secret);

const rejectsWith = async (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (error: unknown) => error instanceof TokenError && error.code === code);

test('issued tokens verify with their claims', async () => {
  const token = await tokens.issue({ room: 'match', role: 'publisher' }, 60);
  assert.deepEqual(await tokens.verifyForRoom(token, 'match'), { room: 'match', role: 'publisher' });
});

test('wrong room is refused', async () => {
  const token = await tokens.issue({ room: 'match', role: 'publisher' }, 60);
  await rejectsWith(tokens.verifyForRoom(token, 'other'), 'TOKEN_WRONG_ROOM');
});

test('admin tokens for "*" work in every room', async () => {
  const token = await tokens.issue({ room: '*', role: 'admin' }, 60);
  assert.equal((await tokens.verifyForRoom(token, 'any-room')).role, 'admin');
});

test('a publisher token for "*" does not become a wildcard', async () => {
  const token = await tokens.issue({ room: '*', role: 'publisher' }, 60);
  await rejectsWith(tokens.verifyForRoom(token, 'match'), 'TOKEN_WRONG_ROOM');
});

test('expired tokens are refused as expired', async () => {
  const key = new TextEncoder().encode(secret);
  const token = await new SignJWT({ room: 'match', role: 'publisher' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('floodlight')
    .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
    .sign(key);
  await rejectsWith(tokens.verify(token), 'TOKEN_EXPIRED');
});

test('forged tokens (other secret) are refused', async () => {
  const forged = await new TokenService('another-secret-another-secret').issue({ room: 'match', role: 'publisher' }, 60);
  await rejectsWith(tokens.verify(forged), 'TOKEN_INVALID');
});

test('alg "none" and garbage are refused', async () => {
  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ room: 'match', role: 'publisher', iss: 'floodlight' })).toString('base64url');
  await rejectsWith(tokens.verify(`${header}.${payload}.`), 'TOKEN_INVALID');
  await rejectsWith(tokens.verify('not-a-jwt'), 'TOKEN_INVALID');
});

test('tokens with bad claims are refused', async () => {
  const key = new TextEncoder().encode(secret);
  const token = await new SignJWT({ room: 'match', role: 'superuser' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('floodlight')
    .setExpirationTime('1h')
    .sign(key);
  await rejectsWith(tokens.verify(token), 'TOKEN_INVALID');
});

test('ttl parsing', () => {
  assert.equal(parseTtl('90s'), 90);
  assert.equal(parseTtl('15m'), 900);
  assert.equal(parseTtl('1h'), 3600);
  assert.equal(parseTtl('7d'), 604800);
  assert.equal(parseTtl('42'), 42);
  assert.throws(() => parseTtl('soon'));
  assert.throws(() => parseTtl('0s'));
});

test('a token without exp is refused: every token must expire', async () => {
  const token = await new SignJWT({ room: 'match', role: 'publisher' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('floodlight')
    .setIssuedAt()
    .sign(new TextEncoder().encode(secret));
  await rejectsWith(tokens.verifyForRoom(token, 'match'), 'TOKEN_INVALID');
});

test('a token valid for more than a year is refused, and none can be issued', async () => {
  const token = await new SignJWT({ room: 'match', role: 'publisher' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('floodlight')
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + 400 * 86400)
    .sign(new TextEncoder().encode(secret));
  await rejectsWith(tokens.verifyForRoom(token, 'match'), 'TOKEN_INVALID');
  await assert.rejects(tokens.issue({ room: 'match', role: 'publisher' }, 400 * 86400), RangeError);
  assert.throws(() => parseTtl('400d'), /at most 366 days/);
  assert.equal(parseTtl('366d'), 366 * 86400);
});
