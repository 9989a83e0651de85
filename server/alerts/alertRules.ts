/**
 * The per-room alert rules as pure state machines over stats samples (no
 * timers, no mediasoup): the monitor feeds one RoomSignal per room and
 * sampling tick and applies the actions. Thresholds come from the
 * environment (docs/configuration.md); semantics are in docs/operations.md.
 *
 * Hysteresis: a rule fires only after its condition held for its "fire after"
 * time, and resolves only after the opposite held for its "clear after" time;
 * thresholds with a margin (bitrate ≥ 110 % of the minimum, loss ≤ 80 % of the
 * maximum) count as clear, values in between keep the current state.
 */
import type { AlertThresholds } from '../config/config.js';
import type { AlertRule } from '../contracts/adminApi.js';
import type { AlertSpec } from './alertManager.js';

export interface RoomSignal {
  room: string;
  /** Sample time, ms since epoch. */
  at: number;
  live: boolean;
  /** The publisher has a video producer that is not paused. */
  videoProducing: boolean;
  /** ms since the video byte counters last grew (0 = they grew in this sample). */
  videoStalledMs: number;
  videoBitrateBps: number;
  /** Publisher → server packet loss over the last sample, null without packets. */
  lossPercent: number | null;
  /** WebRTC + HLS viewers. */
  viewers: number;
  hls: { recording: boolean; playlistAgeSeconds: number | null };
}

export type RuleAction = { type: 'fire'; spec: AlertSpec } | { type: 'resolve'; rule: AlertRule; room: string; message: string };

type Condition = 'bad' | 'good' | 'hold' | 'n/a';

/** Viewers needed before a drop counts. */
export const VIEWER_DROP_MIN_VIEWERS = 10;
/** A viewer_drop alert resolves at the latest this long after it fired. */
export const VIEWER_DROP_HOLD_MS = 60_000;
/** stream_stalled resolves once video flowed again for this long. */
export const STALL_CLEAR_MS = 2_000;

/** Tracks how long a condition has been bad or good. */
export class Sustained {
  #badSince: number | undefined;
  #goodSince: number | undefined;

  /** 'fire' / 'resolve' when the state should change, else undefined. */
  update(condition: Condition, now: number, firing: boolean, fireAfterMs: number, clearAfterMs: number): 'fire' | 'resolve' | undefined {
    switch (condition) {
      case 'n/a':
        this.#badSince = undefined;
        this.#goodSince = undefined;
        return firing ? 'resolve' : undefined;
      case 'bad':
        this.#goodSince = undefined;
        this.#badSince ??= now;
        return !firing && now - this.#badSince >= fireAfterMs ? 'fire' : undefined;
      case 'good':
        this.#badSince = undefined;
        this.#goodSince ??= now;
        return firing && now - this.#goodSince >= clearAfterMs ? 'resolve' : undefined;
      case 'hold':
        if (firing) this.#goodSince = undefined;
        else this.#badSince = undefined;
        return undefined;
    }
  }
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

export class RoomRules {
  readonly #room: string;
  readonly #t: AlertThresholds;
  readonly #stall = new Sustained();
  readonly #bitrate = new Sustained();
  readonly #loss = new Sustained();
  readonly #hls = new Sustained();
  /** Audience samples inside the viewer-drop window, oldest first. */
  #audience: Array<{ at: number; viewers: number }> = [];
  #drop: { line: number; firedAt: number } | undefined;

  constructor(room: string, thresholds: AlertThresholds) {
    this.#room = room;
    this.#t = thresholds;
  }

  evaluate(signal: RoomSignal, isFiring: (rule: AlertRule) => boolean): RuleAction[] {
    const actions: RuleAction[] = [];
    const room = this.#room;
    const now = signal.at;
    const t = this.#t;
    const windowMs = t.windowSeconds * 1000;
    const apply = (rule: AlertRule, decision: 'fire' | 'resolve' | undefined, fire: () => AlertSpec, resolveMessage: string) => {
      if (decision === 'fire') actions.push({ type: 'fire', spec: fire() });
      else if (decision === 'resolve') actions.push({ type: 'resolve', rule, room, message: resolveMessage });
    };

    // stream_stalled
    const stallMs = t.stallSeconds * 1000;
    const stall: Condition =
      !signal.live || !signal.videoProducing ? 'n/a' : signal.videoStalledMs >= stallMs ? 'bad' : signal.videoStalledMs === 0 ? 'good' : 'hold';
    apply(
      'stream_stalled',
      this.#stall.update(stall, now, isFiring('stream_stalled'), 0, STALL_CLEAR_MS),
      () => ({
        rule: 'stream_stalled',
        room,
        value: round1(signal.videoStalledMs / 1000),
        message: `room "${room}": the publisher is producing but no video arrived for ${round1(signal.videoStalledMs / 1000)} s`,
      }),
      stall === 'n/a' ? `room "${room}": the publisher stopped producing video` : `room "${room}": video is flowing again`,
    );

    // low_bitrate (not while stalled: that is stream_stalled's alert)
    const minBps = t.minBitrateKbps * 1000;
    const bitrate: Condition =
      !signal.live || !signal.videoProducing || signal.videoStalledMs > 0
        ? 'n/a'
        : signal.videoBitrateBps < minBps
          ? 'bad'
          : signal.videoBitrateBps >= minBps * 1.1
            ? 'good'
            : 'hold';
    apply(
      'low_bitrate',
      this.#bitrate.update(bitrate, now, isFiring('low_bitrate'), windowMs, windowMs),
      () => ({
        rule: 'low_bitrate',
        room,
        value: Math.round(signal.videoBitrateBps),
        message: `room "${room}": video bitrate ${Math.round(signal.videoBitrateBps / 1000)} kbps, below ${t.minBitrateKbps} kbps for ${t.windowSeconds} s`,
      }),
      `room "${room}": video bitrate back to ${Math.round(signal.videoBitrateBps / 1000)} kbps`,
    );

    // high_loss
    const loss = signal.lossPercent;
    const lossCondition: Condition = !signal.live || loss === null ? 'n/a' : loss > t.maxLossPercent ? 'bad' : loss <= t.maxLossPercent * 0.8 ? 'good' : 'hold';
    apply(
      'high_loss',
      this.#loss.update(lossCondition, now, isFiring('high_loss'), windowMs, windowMs),
      () => ({
        rule: 'high_loss',
        room,
        value: round1(loss ?? 0),
        message: `room "${room}": ingest packet loss ${round1(loss ?? 0)} % above ${t.maxLossPercent} % for ${t.windowSeconds} s`,
      }),
      `room "${room}": ingest packet loss back to ${round1(loss ?? 0)} %`,
    );

    // hls_stale
    const age = signal.hls.playlistAgeSeconds;
    const hls: Condition = !signal.live || !signal.hls.recording || age === null ? 'n/a' : age > t.hlsStaleSeconds ? 'bad' : 'good';
    apply(
      'hls_stale',
      this.#hls.update(hls, now, isFiring('hls_stale'), 0, 0),
      () => ({
        rule: 'hls_stale',
        room,
        value: round1(age ?? 0),
        message: `room "${room}": HLS playlists not updated for ${round1(age ?? 0)} s while live`,
      }),
      hls === 'n/a' ? `room "${room}": HLS recording stopped` : `room "${room}": HLS playlists updating again`,
    );

    // viewer_drop
    this.#audience = this.#audience.filter((s) => now - s.at < windowMs);
    const peak = this.#audience.reduce((max, s) => Math.max(max, s.viewers), 0);
    this.#audience.push({ at: now, viewers: signal.viewers });
    const dropLine = peak * (1 - t.viewerDropPercent / 100);
    const firing = isFiring('viewer_drop');
    if (!firing) this.#drop = undefined;
    if (!firing && peak >= VIEWER_DROP_MIN_VIEWERS && signal.viewers <= dropLine) {
      this.#drop = { line: dropLine, firedAt: now };
      actions.push({
        type: 'fire',
        spec: {
          rule: 'viewer_drop',
          room,
          value: signal.viewers,
          message: `room "${room}": viewers fell from ${peak} to ${signal.viewers} within ${t.windowSeconds} s`,
        },
      });
    } else if (firing && this.#drop && (signal.viewers > this.#drop.line || now - this.#drop.firedAt >= VIEWER_DROP_HOLD_MS)) {
      actions.push({ type: 'resolve', rule: 'viewer_drop', room, message: `room "${room}": audience at ${signal.viewers} viewers` });
      this.#drop = undefined;
    } else if (firing && !this.#drop) {
      // Fired before this instance existed (cannot happen in practice): let it go.
      actions.push({ type: 'resolve', rule: 'viewer_drop', room, message: `room "${room}": audience at ${signal.viewers} viewers` });
    }
    return actions;
  }
}
