/**
 * A room's program and its backup ingest, on the wire (server:
 * server/http/programRoutes.ts, server/alerts/ingestSwitchAlerts.ts; callers:
 * the dashboard's room detail, drills, benches). Admin JWT on every route.
 *   GET  /api/rooms/:room/program                                   → 200 ProgramStatus
 *   POST /api/rooms/:room/program  { "slot": "primary" | "backup" } → 200 ProgramStatus (manual switch)
 * Errors: `{ error: { code, message } }` — 400 BAD_REQUEST, 401/403 (admin
 * auth), 404 NOT_FOUND (no such room on this node), 409 SLOT_EMPTY /
 * SLOT_UNHEALTHY (nothing to switch to), 413 PAYLOAD_TOO_LARGE.
 * Webhook event `ingest.switched`: `{ type, switch: ProgramSwitch, sentAt }`.
 * Plain types, no zod: the dashboard imports this file.
 */

export const programSlots = ['primary', 'backup'] as const;
export type ProgramSlot = (typeof programSlots)[number];

/** Why the program changed slot; a bounded set (it labels a metric). */
export const programSwitchReasons = ['initial', 'stall', 'disconnect', 'failback', 'manual'] as const;
export type ProgramSwitchReason = (typeof programSwitchReasons)[number];

export const PROGRAM_MAX_BODY_BYTES = 1024;

export const INGEST_SWITCHED_EVENT = 'ingest.switched';

export interface ProgramSwitchRequest {
  slot: ProgramSlot;
}

/** One switch between the two slots. */
export interface ProgramSwitch {
  room: string;
  from: ProgramSlot;
  to: ProgramSlot;
  reason: ProgramSwitchReason;
  /** ISO time of the decision (the relay cuts at the new source's next key frame). */
  at: string;
}

export interface ProgramSlotStatus {
  slot: ProgramSlot;
  present: boolean;
  /** 'whip' | 'rtmp' | 'srt' | 'webrtc' …; null when empty. */
  protocol: string | null;
  /** ms since its last video packet (any packet for audio-only); null before any or when empty. */
  lastMediaAgeMs: number | null;
  bitrateBps: number | null;
  keyFrameIntervalMs: number | null;
  /** Delivering media within the stall threshold. */
  healthy: boolean;
}

export interface ProgramStatus {
  room: string;
  live: boolean;
  /** The slot on air; null when off air. */
  active: ProgramSlot | null;
  /** The program's tracks are relay producers (they survive a switch). */
  relayed: boolean;
  /** An operator pinned this slot (no automatic fail-back). */
  pinned: ProgramSlot | null;
  slots: ProgramSlotStatus[];
  lastSwitch: ProgramSwitch | null;
  switches: number;
  settings: { stallMs: number; failbackSeconds: number };
}
