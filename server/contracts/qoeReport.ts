/**
 * The QoE beacon a watch page sends every ~5 s (POST /api/rooms/:room/qoe).
 * Counters are cumulative for the playback session; the server works with
 * their increments. Strict: unknown fields are refused.
 */
import { z } from 'zod';

/** Largest accepted body (bytes). */
export const QOE_MAX_BODY_BYTES = 4096;

const count = z.number().int().min(0).max(1e12);
const amount = z.number().min(0).max(1e12);
const millis = z
  .number()
  .min(0)
  .max(24 * 3600 * 1000);

export const qoeReportSchema = z.strictObject({
  sessionId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'sessionId must be 8-64 characters of A-Z a-z 0-9 _ -'),
  transport: z.enum(['webrtc', 'hls']),
  framesDecoded: count,
  framesDropped: count,
  freezeCount: count,
  freezeDurationMs: amount,
  jitterBufferDelayMs: millis.optional(),
  latencyMs: millis.optional(),
  bitrateBps: amount.optional(),
  /** Join (play pressed / page load) to the first rendered frame; sent once. */
  firstFrameMs: millis.optional(),
  watchingSeconds: z
    .number()
    .min(0)
    .max(30 * 24 * 3600),
});

export type QoeReport = z.infer<typeof qoeReportSchema>;
