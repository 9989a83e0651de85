/**
 * One video codec per room with backup ingest: a WHIP offer is given the
 * codec of the encoder in the other slot when it offers it (Chromium offers
 * VP8 first, and H.264), refused with a 422 that names the codec to send when
 * it does not (OBS offers H.264 only); an RTMP/SRT ingest is re-encoded to
 * VP8 when the room's other encoder sends VP8, and planned as usual otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { planWhipOffer } from '../../server/ingest/whip/whipOffer.js';
import { planVideo, type IngestProbe } from '../../server/ingest/ingestProbe.js';
import { SdpOfferError } from '../../server/webrtc/sdp/remoteDescription.js';
import { routerCapabilities } from '../helpers/routerCapabilities.js';

const fixture = (name: string): string => fs.readFileSync(path.join(import.meta.dirname, '../fixtures/whip', name), 'utf8');
const capabilities = routerCapabilities();
const videoCodec = (sdp: string, required?: { mimeType: string; from: string }): string | undefined =>
  planWhipOffer(sdp, capabilities, required).media.find((m) => m.kind === 'video')?.rtpParameters.codecs[0]?.mimeType;

test("a WHIP offer gets the program's codec when it offers it, its own first choice otherwise", () => {
  assert.equal(videoCodec(fixture('chromium.sdp')), 'video/VP8', 'free: the offer order decides');
  assert.equal(videoCodec(fixture('chromium.sdp'), { mimeType: 'video/H264', from: 'the primary encoder (rtmp)' }), 'video/H264');
  assert.equal(videoCodec(fixture('obs-libdatachannel.sdp'), { mimeType: 'video/H264', from: 'the primary encoder (srt)' }), 'video/H264');
  assert.equal(videoCodec(fixture('gstreamer-webrtcbin.sdp'), { mimeType: 'video/H264', from: 'the backup encoder (whip)' }), 'video/H264');
});

test("a WHIP offer without the program's codec is refused with 422 naming the codec to send", () => {
  assert.throws(
    () => planWhipOffer(fixture('obs-libdatachannel.sdp'), capabilities, { mimeType: 'video/VP8', from: 'the primary encoder (whip)' }),
    (error: unknown) =>
      error instanceof SdpOfferError &&
      error.status === 422 &&
      /the room's video is VP8, from the primary encoder \(whip\); this encoder offers H264: send VP8/.test(error.message),
  );
  // Audio is not constrained (always Opus).
  const plan = planWhipOffer(fixture('chromium.sdp'), capabilities, { mimeType: 'video/H264', from: 'x' });
  assert.equal(plan.media.find((m) => m.kind === 'audio')?.rtpParameters.codecs[0]?.mimeType.toLowerCase(), 'audio/opus');
});

test('an RTMP/SRT ingest is re-encoded to VP8 for a VP8 room, planned as usual for H.264', () => {
  const probe: IngestProbe = {
    video: { codec: 'h264', profile: 'Main', width: 640, height: 360, fps: 30, pixelFormat: 'yuv420p', bFrames: false, frames: 30 },
    audio: { codec: 'aac', sampleRate: 48000, channels: 2 },
  };
  const vp8 = planVideo(probe, { mimeType: 'video/VP8', from: 'the primary encoder (whip)' });
  assert.deepEqual([vp8.mode, vp8.codec], ['transcode', 'vp8']);
  assert.match(vp8.reason, /VP8, from the primary encoder \(whip\)/);
  assert.deepEqual(planVideo(probe, { mimeType: 'video/H264', from: 'the primary encoder (whip)' }), planVideo(probe));
  assert.equal(planVideo(probe).codec, 'h264');
  assert.equal(planVideo({ ...probe, video: { ...probe.video, bFrames: true } }, { mimeType: 'video/H264', from: 'x' }).codec, 'h264');
});
