/**
 * What the RTMP and SRT ingest tests check alike: an OBS-like encoder goes on
 * air and a viewer decodes it (then the encoder is stopped and its ingest must
 * end), a refused encoder is cut off, and the room's ingest health.
 */
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import type { IngestHealth, RoomIngestStats } from '../../server/contracts/ingestHealth.js';
import { HeadlessViewer } from './headlessViewer.js';
import { startObsLikeEncoder, type ObsLikeEncoderOptions } from './obsLikeEncoder.js';
import type { TrackedProcess } from './processes.js';
import { waitFor } from './wait.js';

/** The room's ingest health from /api/rooms/:room/stats (empty while the room is unknown). */
export async function ingestOf(server: FloodlightServer, room: string): Promise<IngestHealth[]> {
  const response = await fetch(`${server.url}/api/rooms/${room}/stats`);
  if (response.status !== 200) return [];
  return ((await response.json()) as RoomIngestStats).ingest;
}

/** The server ends the encoder's connection (its ffmpeg exits) within 20 s; it is stopped either way. */
export async function expectRefused(encoder: TrackedProcess, what: string): Promise<void> {
  const exit = await Promise.race([encoder.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 20_000))]);
  await encoder.stop({ signal: 'SIGKILL' });
  assert.notEqual(exit, 'running', `${what}: the encoder's connection should have been closed`);
}

export interface EncoderToViewerOptions {
  room: string;
  protocol: 'RTMP' | 'SRT';
  /** The encoder's URL for a primary key of the room. */
  url: (key: string) => string;
  encoder: ObsLikeEncoderOptions;
  /** When the health is complete enough to be checked. */
  healthReady: (health: IngestHealth) => boolean;
  /** After the encoder is stopped: its ingest has ended and left nothing. */
  ended: () => boolean;
  /** What is left, for the progress line while waiting for `ended`. */
  footprint: () => string;
}

/**
 * Publishes with a new primary key, waits for the source to go on air and for
 * a viewer to decode 60 video frames (one a key frame) and 50 Opus packets;
 * returns the health once ready. Always stops the encoder and waits for `ended`.
 */
export async function encoderToViewer(server: FloodlightServer, options: EncoderToViewerOptions): Promise<IngestHealth> {
  const { room } = options;
  const { key } = await server.streamKeys.create(room, 'primary');
  const publisher = startObsLikeEncoder(options.url(key), options.encoder);
  const viewer = new HeadlessViewer({ url: server.url, room, name: `${room}-viewer` });
  try {
    await waitFor(() => server.rooms.get(room)?.sources().length === 1, {
      description: `the ${options.protocol} source of ${room} to go on air`,
      timeoutMs: 30_000,
      progress: () => publisher.output(),
    });
    await viewer.join();
    await waitFor(() => viewer.stats().video.frames >= 60 && viewer.stats().audio.packets >= 50, {
      description: `a viewer of ${room} to receive 60 video frames and 50 Opus packets`,
      timeoutMs: 30_000,
      progress: () => `video ${JSON.stringify(viewer.stats().video)}, audio ${viewer.stats().audio.packets}`,
    });
    assert.ok(viewer.stats().video.keyframes >= 1, 'a key frame (with SPS/PPS) reached the viewer');
    return await waitFor(async () => (await ingestOf(server, room)).find(options.healthReady), {
      description: `the ingest health of ${room}`,
      timeoutMs: 15_000,
    });
  } finally {
    await viewer.close();
    await publisher.stop({ signal: 'SIGKILL' });
    await waitFor(options.ended, { description: `the ingest of ${room} to end with its encoder`, timeoutMs: 20_000, progress: options.footprint });
  }
}
