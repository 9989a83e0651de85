/**
 * The copy / re-encode decision for RTMP and SRT ingests: planVideo on probe
 * results (H.264 Baseline/Main/High without B-frames copied; B-frames, HEVC,
 * other profiles, other pixel formats, other codecs re-encoded), planAudio
 * (AAC → Opus), when a probe is conclusive, where ffprobe is found — and
 * probeIngest on real encoders' output (ffmpeg makes a second of FLV or
 * MPEG-TS; ffprobe reads it as the ingest does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ffprobePathFor, planAudio, planVideo, probeIngest, probeIsConclusive, type IngestProbe } from '../../server/ingest/ingestProbe.js';

function probe(video: Partial<IngestProbe['video']> = {}, audio: IngestProbe['audio'] = { codec: 'aac', sampleRate: 48000, channels: 2 }): IngestProbe {
  return {
    video: { codec: 'h264', profile: 'High', width: 1280, height: 720, fps: 30, pixelFormat: 'yuv420p', bFrames: false, frames: 30, ...video },
    audio,
  };
}

test('H.264 Constrained Baseline, Baseline, Main and High without B-frames are copied', () => {
  for (const profile of ['Constrained Baseline', 'Baseline', 'Main', 'High']) {
    const plan = planVideo(probe({ profile }));
    assert.equal(plan.mode, 'copy', profile);
    assert.match(plan.reason, new RegExp(profile));
  }
  assert.equal(planVideo(probe({ pixelFormat: 'yuvj420p' })).mode, 'copy', 'full-range 4:2:0 (webcams, some encoders) decodes too');
  assert.equal(planVideo(probe({ pixelFormat: null })).mode, 'copy', 'an unreported pixel format does not force a re-encode');
});

test('B-frames, HEVC, other codecs, unknown or 10-bit/4:2:2 profiles are re-encoded, with the reason', () => {
  const cases: [string, IngestProbe, RegExp][] = [
    ['High with B-frames', probe({ bFrames: true }), /B-frames/],
    ['Main with B-frames', probe({ profile: 'Main', bFrames: true }), /B-frames/],
    ['HEVC', probe({ codec: 'hevc', profile: 'Main' }), /HEVC/],
    ['HEVC with B-frames', probe({ codec: 'hevc', bFrames: true }), /HEVC/],
    ['AV1', probe({ codec: 'av1', profile: null }), /AV1/],
    ['MPEG-2', probe({ codec: 'mpeg2video', profile: 'Main' }), /MPEG2VIDEO/],
    ['H.264 of an unknown profile', probe({ profile: null }), /unknown profile/],
    ['H.264 High 10', probe({ profile: 'High 10' }), /High 10/],
    ['H.264 High 4:2:2', probe({ profile: 'High 4:2:2' }), /High 4:2:2/],
    ['H.264 High, 10-bit pixels', probe({ pixelFormat: 'yuv420p10le' }), /yuv420p10le/],
    ['H.264 High, 4:4:4 pixels', probe({ pixelFormat: 'yuv444p' }), /yuv444p/],
  ];
  for (const [name, input, reason] of cases) {
    const plan = planVideo(input);
    assert.equal(plan.mode, 'transcode', name);
    assert.match(plan.reason, reason, name);
  }
});

test('audio always becomes Opus; no audio, no audio track', () => {
  assert.deepEqual(planAudio(probe()), { mode: 'transcode', codec: 'opus', reason: 'AAC → Opus: WebRTC viewers decode Opus' });
  assert.equal(planAudio(probe({}, { codec: 'mp3', sampleRate: 44100, channels: 2 }))?.codec, 'opus');
  // Even Opus is re-encoded: the ingest always sends the router's Opus (48 kHz stereo, 20 ms frames).
  assert.equal(planAudio(probe({}, { codec: 'opus', sampleRate: 48000, channels: 2 }))?.mode, 'transcode');
  assert.equal(planAudio(probe({}, null)), null);
});

test('a probe is conclusive with 8 frames and a size: fewer frames cannot rule B-frames out', () => {
  assert.equal(probeIsConclusive(probe({ frames: 8 })), true);
  assert.equal(probeIsConclusive(probe({ frames: 7 })), false);
  assert.equal(probeIsConclusive(probe({ width: null })), false);
});

test('ffprobe is looked for next to the configured ffmpeg', () => {
  assert.equal(ffprobePathFor('ffmpeg'), 'ffprobe');
  assert.equal(ffprobePathFor('/usr/bin/ffmpeg'), '/usr/bin/ffprobe');
  assert.equal(ffprobePathFor('/opt/ff/bin/ffmpeg-6.1'), '/opt/ff/bin/ffprobe-6.1');
  assert.equal(ffprobePathFor('/opt/encoder/bin/transcoder'), '/opt/encoder/bin/ffprobe');
});

/** One second of what an encoder would send: 320x240@30, a tone in AAC. */
function encode(format: 'flv' | 'mpegts', video: string[]): Buffer {
  return execFileSync(
    'ffmpeg',
    [
      ...[
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=320x240:rate=30',
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=48000',
      ],
      ...['-t', '1', ...video, '-g', '30', '-c:a', 'aac', '-f', format, 'pipe:1'],
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
}

const ffprobe = { ffprobePath: 'ffprobe', timeoutMs: 10_000 };

test('probeIngest reads real encoders: OBS-like x264 High with B-frames → re-encode; Main without → copy; HEVC over SRT → re-encode', async () => {
  const obsDefaults = await probeIngest(encode('flv', ['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-bf', '2']), 'flv', ffprobe);
  assert.equal(obsDefaults.video.codec, 'h264');
  assert.equal(obsDefaults.video.profile, 'High');
  assert.equal(obsDefaults.video.bFrames, true);
  assert.equal(obsDefaults.video.width, 320);
  assert.ok(probeIsConclusive(obsDefaults), `frames seen: ${obsDefaults.video.frames}`);
  assert.equal(obsDefaults.audio?.codec, 'aac');
  assert.equal(planVideo(obsDefaults).mode, 'transcode');

  const main = await probeIngest(encode('flv', ['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'main', '-bf', '0']), 'flv', ffprobe);
  assert.equal(main.video.profile, 'Main');
  assert.equal(main.video.bFrames, false);
  assert.equal(main.video.fps, 30);
  assert.equal(planVideo(main).mode, 'copy');

  const hevc = await probeIngest(encode('mpegts', ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error']), 'mpegts', ffprobe);
  assert.equal(hevc.video.codec, 'hevc');
  assert.equal(planVideo(hevc).mode, 'transcode');
  assert.equal(planAudio(hevc)?.codec, 'opus');
});

test('probeIngest refuses what is not a stream, and a stream without video, with IngestProbeError', async () => {
  await assert.rejects(probeIngest(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'flv', ffprobe), { name: 'IngestProbeError' });
  const audioOnly = execFileSync(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '1', '-c:a', 'aac', '-f', 'mpegts', 'pipe:1'],
    { maxBuffer: 4 * 1024 * 1024 },
  );
  await assert.rejects(probeIngest(audioOnly, 'mpegts', ffprobe), { name: 'IngestProbeError', message: /no video/ });
  await assert.rejects(probeIngest(Buffer.alloc(0), 'flv', { ffprobePath: '/nonexistent/ffprobe', timeoutMs: 5_000 }), {
    name: 'IngestProbeError',
    message: /cannot run ffprobe/,
  });
});
