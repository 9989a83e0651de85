/**
 * The per-address limit of WHIP and WHEP requests, on a mocked clock: the
 * burst, the sustained rate, the Retry-After it computes, addresses kept
 * apart (IPv6 by /64), "off", and the 429 problem its middleware throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NextFunction, Request, Response } from 'express';
import { AddressRateLimit, addressKey, endpointRateLimits, PATCH_ALLOWANCE } from '../../server/webrtc/addressRateLimit.js';
import { HttpProblem } from '../../server/webrtc/httpProblem.js';

test('a burst, then one request per 1/rate; Retry-After says when; other addresses unaffected', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const limit = new AddressRateLimit('WHIP POSTs', { perMinute: 6, burst: 3 });
  for (let i = 0; i < 3; i++) assert.equal(limit.take('192.0.2.1'), 0, `request ${i + 1} of the burst`);
  assert.equal(limit.take('192.0.2.1'), 10, 'one token every 10 s at 6 a minute');
  assert.equal(limit.take('192.0.2.2'), 0, 'another address has its own bucket');
  t.mock.timers.tick(9_000);
  assert.equal(limit.take('192.0.2.1'), 1);
  t.mock.timers.tick(1_000);
  assert.equal(limit.take('192.0.2.1'), 0, 'a token after 10 s');
  assert.equal(limit.take('::ffff:192.0.2.1'), 10, 'an IPv4-mapped address is the same client');
});

test('perMinute 0 turns the limit off', () => {
  const limit = new AddressRateLimit('WHEP POSTs', { perMinute: 0, burst: 1 });
  for (let i = 0; i < 100; i++) assert.equal(limit.take('192.0.2.1'), 0);
  assert.equal(limit.size, 0, 'nothing is remembered');
});

test('IPv6 clients are counted by /64', () => {
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('::ffff:10.0.0.1'), '10.0.0.1');
  const limit = new AddressRateLimit('WHIP POSTs', { perMinute: 60, burst: 1 });
  assert.equal(limit.take('2001:db8:1:2::a'), 0);
  assert.ok(limit.take('2001:db8:1:2::b') > 0, 'same /64');
  assert.equal(limit.take('2001:db8:1:3::a'), 0, 'another /64');
});

test('PATCH gets its allowance; the middleware throws 429 problem+json with Retry-After', () => {
  const { posts, patches } = endpointRateLimits('WHIP', { perMinute: 60, burst: 2 });
  const request = { socket: { remoteAddress: '192.0.2.9' } } as unknown as Request;
  const response = null as unknown as Response; // the middleware never touches it
  let passed = 0;
  const next: NextFunction = () => passed++;
  posts.middleware(request, response, next);
  posts.middleware(request, response, next);
  assert.equal(passed, 2);
  assert.throws(
    () => posts.middleware(request, response, next),
    (error: unknown) =>
      error instanceof HttpProblem && error.status === 429 && error.headers['Retry-After'] === '1' && /too many WHIP POSTs/.test(error.message),
  );
  for (let i = 0; i < 2 * PATCH_ALLOWANCE; i++) assert.equal(patches.take('192.0.2.9'), 0);
  assert.ok(patches.take('192.0.2.9') > 0);
});
