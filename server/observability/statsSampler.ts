/**
 * Samples every room's media every STATS_INTERVAL_SECONDS (default 2 s) into
 * a ring buffer of the last 150 points, and keeps the latest per-room sample
 * for the stats API, the metrics and the alert rules.
 *
 * Cost is bounded: each tick makes at most `maxStatCallsPerTick` getStats()
 * calls over the worker channel (default 400). Producers come first (two per
 * room: the publisher's audio and video; needed for stall detection); viewers
 * are sampled — up to `viewersPerRoom` per room and tick, round-robin — and
 * their egress bitrate, RTT and loss extrapolated to the whole audience.
 * Rooms that don't fit in a tick's budget are skipped that tick (and taken
 * first in the next one). A tick never overlaps the previous one. Scores are
 * read from properties mediasoup keeps up to date (no call).
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from './logger.js';
import type { Room } from '../rooms/room.js';
import type { WebRtcViewer } from '../viewers/webrtcViewer.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import type { MessageBus } from '../cluster/messageBus.js';
import type { RoomEvent } from '../cluster/roomEvents.js';
import type { HlsService } from '../hls/hlsService.js';
import type { RoomSignal } from '../alerts/alertRules.js';
import type { Alert, HistoryPoint, RoomStats } from '../contracts/adminApi.js';
import type { QoeStore } from './qoeStore.js';
import { RingBuffer } from './ringBuffer.js';
import { summarizeIngest, type ProducerCounters } from './ingestSample.js';
import { HISTORY_POINTS } from './roomStats.js';

/** Hooks the metrics registry plugs in (histograms fed by samples). */
export interface SamplerObservers {
  producerScore(score: number): void;
  consumerScore(score: number): void;
  rtt(side: 'publisher' | 'viewer', seconds: number): void;
  ingestJitter(seconds: number): void;
  tick(durationSeconds: number, calls: number): void;
}

export interface StatsSamplerOptions {
  /** This node's rooms (their media is sampled here). */
  rooms: RoomRegistry;
  /** Room events: which rooms exist is learnt from these. */
  bus: MessageBus;
  hls: HlsService | undefined;
  qoe: QoeStore;
  intervalMs: number;
  logger: Logger;
  alertsForRoom?: (room: string) => Alert[];
  observers?: SamplerObservers;
  /** Called after every tick with the rooms sampled in it (the alert rules). */
  onSample?: (signals: RoomSignal[]) => void;
  maxStatCallsPerTick?: number;
  viewersPerRoom?: number;
  now?: () => number;
}

export interface ServerTotals {
  rooms: number;
  liveRooms: number;
  publishers: number;
  webrtcViewers: number;
  hlsViewers: number;
  bitrateInBps: number;
  bitrateOutBps: number;
  /** Publisher → server, over the last sample (0..1), null without packets. */
  ingestLossRatio: number | null;
  /** Server → viewers as viewers report it (RTCP), sampled viewers (0..1). */
  egressLossRatio: number | null;
  /** Oldest media playlist among recording rooms, seconds; null when none records. */
  hlsPlaylistAgeMaxSeconds: number | null;
}

export interface TickInfo {
  at: number;
  durationMs: number;
  calls: number;
  roomsSampled: number;
  roomsSkipped: number;
}

/** A new recording gets this long to write its first playlist before it counts as stale. */
export const HLS_STARTUP_GRACE_MS = 10_000;

interface RoomSample {
  at: number;
  live: boolean;
  videoBitrateBps: number;
  audioBitrateBps: number;
  codec: string | null;
  score: number | null;
  /** Ingest loss over the last interval, null without packets. */
  lossPercent: number | null;
  lossPackets: { lost: number; expected: number };
  rttMs: number | null;
  jitterMs: number | null;
  webrtcViewers: number;
  hlsViewers: number;
  bitrateOutBps: number;
  egressLoss: { sum: number; n: number };
  videoProducing: boolean;
  videoStalledMs: number;
  hlsRecording: boolean;
  playlistAgeSeconds: number | null;
  hlsAlertAgeSeconds: number | null;
}

interface RoomTrack {
  room: Room;
  liveSince: number | null;
  joins: number;
  leaves: number;
  /** Watch time of WebRTC viewers that left, ms. */
  watchMs: number;
  viewerJoinedAt: Map<string, number>;
  history: RingBuffer<HistoryPoint>;
  producers: Map<string, ProducerCounters>;
  videoGrewAt: number | undefined;
  viewerCursor: number;
  outPerViewerBps: number;
  latest: RoomSample | undefined;
  detach: () => void;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

export class StatsSampler {
  readonly #options: StatsSamplerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #tracks = new Map<string, RoomTrack>();
  readonly #unsubscribe: () => void;
  readonly #maxCalls: number;
  readonly #viewersPerRoom: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #roomOffset = 0;
  #lastTick: TickInfo | undefined;
  #closed = false;

  constructor(options: StatsSamplerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'stats' });
    this.#now = options.now ?? Date.now;
    this.#maxCalls = options.maxStatCallsPerTick ?? 400;
    this.#viewersPerRoom = options.viewersPerRoom ?? 8;
    this.#unsubscribe = options.bus.subscribe((event) => this.#onRoomEvent(event));
    for (const room of options.rooms.rooms()) this.#follow(room);
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => {
      if (!this.#running) this.#running = this.tick().finally(() => (this.#running = undefined));
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  get lastTick(): TickInfo | undefined {
    return this.#lastTick;
  }

  /** One sampling pass over all rooms (the timer calls this; tests may too). */
  async tick(): Promise<void> {
    if (this.#closed) return;
    const started = performance.now();
    const at = this.#now();
    this.#options.qoe.prune();
    const tracks = [...this.#tracks.values()].filter((t) => !t.room.closed);
    // Rotate the start so rooms skipped for lack of budget come first next time.
    const offset = tracks.length > 0 ? this.#roomOffset % tracks.length : 0;
    const ordered = [...tracks.slice(offset), ...tracks.slice(0, offset)];
    let budget = this.#maxCalls;
    const planned: Array<{ track: RoomTrack; producers: ms.Producer[]; viewers: ms.Consumer[][] }> = [];
    let skipped = 0;
    for (const track of ordered) {
      const snapshot = track.room.mediaSnapshot();
      const producers = snapshot.producers.map((p) => p.producer).filter((p) => !p.closed);
      if (producers.length > budget) {
        skipped++;
        continue;
      }
      budget -= producers.length;
      planned.push({ track, producers, viewers: snapshot.viewers });
    }
    if (skipped > 0) this.#roomOffset = (offset + planned.length) % Math.max(1, tracks.length);
    // What remains goes to viewer sampling, shared fairly among rooms with viewers.
    const withViewers = planned.filter((p) => p.viewers.length > 0).length;
    const viewerCallsPerRoom = withViewers > 0 ? Math.floor(budget / withViewers) : 0;
    let calls = 0;
    const signals: RoomSignal[] = [];
    await Promise.all(
      planned.map(async ({ track, producers, viewers }) => {
        try {
          const result = await this.#sampleRoom(track, producers, viewers, viewerCallsPerRoom, at);
          calls += result.calls;
          if (result.signal) signals.push(result.signal);
        } catch (error) {
          this.#log.warn({ room: track.room.id, err: (error as Error).message }, 'stats sampling failed');
        }
      }),
    );
    if (this.#closed) return;
    const durationMs = performance.now() - started;
    this.#lastTick = { at, durationMs, calls, roomsSampled: planned.length, roomsSkipped: skipped };
    this.#options.observers?.tick(durationMs / 1000, calls);
    try {
      this.#options.onSample?.(signals);
    } catch (error) {
      this.#log.error({ err: error }, 'alert evaluation failed');
    }
  }

  totals(): ServerTotals {
    const totals: ServerTotals = {
      rooms: 0,
      liveRooms: 0,
      publishers: 0,
      webrtcViewers: 0,
      hlsViewers: 0,
      bitrateInBps: 0,
      bitrateOutBps: 0,
      ingestLossRatio: null,
      egressLossRatio: null,
      hlsPlaylistAgeMaxSeconds: null,
    };
    let lost = 0;
    let expected = 0;
    let egressSum = 0;
    let egressN = 0;
    for (const track of this.#tracks.values()) {
      const room = track.room;
      if (room.closed) continue;
      totals.rooms++;
      if (room.live) totals.liveRooms++;
      if (room.hasPublisher) totals.publishers++;
      totals.webrtcViewers += room.viewerCount;
      totals.hlsViewers += this.#options.qoe.hlsViewers(room.id);
      const latest = track.latest;
      if (!latest) continue;
      totals.bitrateInBps += latest.videoBitrateBps + latest.audioBitrateBps;
      totals.bitrateOutBps += latest.bitrateOutBps;
      lost += latest.lossPackets.lost;
      expected += latest.lossPackets.expected;
      egressSum += latest.egressLoss.sum;
      egressN += latest.egressLoss.n;
      if (latest.playlistAgeSeconds !== null) {
        totals.hlsPlaylistAgeMaxSeconds = Math.max(totals.hlsPlaylistAgeMaxSeconds ?? 0, latest.playlistAgeSeconds);
      }
    }
    if (expected > 0) totals.ingestLossRatio = lost / expected;
    if (egressN > 0) totals.egressLossRatio = egressSum / egressN;
    return totals;
  }

  /** Ids of followed rooms, live first, then by audience. */
  roomIds(): string[] {
    return [...this.#tracks.values()]
      .filter((t) => !t.room.closed)
      .sort((a, b) => Number(b.room.live) - Number(a.room.live) || b.room.viewerCount - a.room.viewerCount || a.room.id.localeCompare(b.room.id))
      .map((t) => t.room.id);
  }

  has(roomId: string): boolean {
    const track = this.#tracks.get(roomId);
    return !!track && !track.room.closed;
  }

  roomStats(roomId: string): RoomStats | undefined {
    const track = this.#tracks.get(roomId);
    if (!track || track.room.closed) return undefined;
    const room = track.room;
    const now = this.#now();
    const latest = track.latest;
    const qoe = this.#options.qoe.aggregate(room.id);
    const qoeCounters = this.#options.qoe.counters(room.id);
    const hlsStatus = this.#options.hls?.status(room.id);
    const video = room.live ? this.#options.hls?.videoInfo(room.id) : undefined;
    let watchMs = track.watchMs;
    for (const joinedAt of track.viewerJoinedAt.values()) watchMs += now - joinedAt;
    const { fps, ...qoeAggregate } = qoe;
    const hasVideo = room.live && !!room.programMedia()?.video;
    return {
      id: room.id,
      live: room.live,
      since: room.live && track.liveSince !== null ? new Date(track.liveSince).toISOString() : null,
      video: {
        bitrateBps: room.live ? Math.round(latest?.videoBitrateBps ?? 0) : 0,
        fps: hasVideo ? fps : null,
        width: hasVideo ? (video?.width ?? null) : null,
        height: hasVideo ? (video?.height ?? null) : null,
        codec: hasVideo ? (latest?.codec ?? null) : null,
        score: hasVideo ? (latest?.score ?? null) : null,
      },
      audio: { bitrateBps: room.live ? Math.round(latest?.audioBitrateBps ?? 0) : 0 },
      lossPercent: room.live ? round1(latest?.lossPercent ?? 0) : 0,
      rttMs: room.live ? (latest?.rttMs ?? null) : null,
      jitterMs: room.live ? (latest?.jitterMs ?? null) : null,
      viewers: { webrtc: room.viewerCount, hls: this.#options.qoe.hlsViewers(room.id) },
      joins: track.joins + qoeCounters.hlsJoins,
      leaves: track.leaves + qoeCounters.hlsLeaves,
      watchTimeSeconds: Math.round(watchMs / 1000 + qoeCounters.hlsWatchSeconds),
      qoe: qoeAggregate,
      hls: {
        available: hlsStatus?.available ?? false,
        url: hlsStatus?.available ? hlsStatus.url : null,
        playlistAgeSeconds: hlsStatus?.playlistUpdatedAt !== undefined ? round1((now - hlsStatus.playlistUpdatedAt) / 1000) : null,
      },
      thumbnail: this.#options.hls?.thumbnailPath(room.id) ? `/api/rooms/${room.id}/thumbnail.jpg` : null,
      program: room.programStatus(),
      alerts: this.#options.alertsForRoom?.(room.id) ?? [],
      history: track.history.toArray(),
    };
  }

  /** Stops sampling and forgets every room. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#unsubscribe();
    for (const track of this.#tracks.values()) track.detach();
    this.#tracks.clear();
  }

  #onRoomEvent(event: RoomEvent): void {
    if (event.node !== this.#options.bus.nodeId || event.type !== 'opened') return;
    const room = this.#options.rooms.get(event.room);
    if (room) this.#follow(room);
  }

  #follow(room: Room): void {
    if (this.#closed || room.closed || this.#tracks.get(room.id)?.room === room) return;
    const track: RoomTrack = {
      room,
      liveSince: room.live ? this.#now() : null,
      joins: 0,
      leaves: 0,
      watchMs: 0,
      viewerJoinedAt: new Map(),
      history: new RingBuffer(HISTORY_POINTS),
      producers: new Map(),
      videoGrewAt: undefined,
      viewerCursor: 0,
      outPerViewerBps: 0,
      latest: undefined,
      detach: () => undefined,
    };
    const onJoined = (peer: WebRtcViewer) => {
      track.joins++;
      track.viewerJoinedAt.set(peer.id, this.#now());
    };
    const onLeft = (peer: WebRtcViewer) => {
      const joinedAt = track.viewerJoinedAt.get(peer.id);
      if (joinedAt === undefined) return;
      track.viewerJoinedAt.delete(peer.id);
      track.leaves++;
      track.watchMs += this.#now() - joinedAt;
    };
    const onProducers = () => {
      if (room.live) track.liveSince ??= this.#now();
      else track.liveSince = null;
    };
    const onClosed = () => {
      track.detach();
      if (this.#tracks.get(room.id) === track) this.#tracks.delete(room.id);
      this.#options.qoe.forgetRoom(room.id);
    };
    room.on('viewerJoined', onJoined);
    room.on('viewerLeft', onLeft);
    room.on('programChanged', onProducers);
    room.once('closed', onClosed);
    track.detach = () => {
      room.off('viewerJoined', onJoined);
      room.off('viewerLeft', onLeft);
      room.off('programChanged', onProducers);
      room.off('closed', onClosed);
    };
    this.#tracks.get(room.id)?.detach();
    this.#tracks.set(room.id, track);
  }

  async #sampleRoom(
    track: RoomTrack,
    producers: ms.Producer[],
    viewers: ms.Consumer[][],
    viewerCallBudget: number,
    at: number,
  ): Promise<{ calls: number; signal: RoomSignal | undefined }> {
    const room = track.room;
    const observers = this.#options.observers;
    let calls = producers.length;
    const producerStats = await Promise.all(producers.map((p) => p.getStats().catch(() => [] as ms.ProducerStat[])));

    const ingest = summarizeIngest(producers, producerStats, track.producers, at, room.programMedia()?.video, observers);
    const { videoBps, audioBps, videoGrew, videoProducing, lost, expected, jitterMs, publisherRttMs, codec, score } = ingest;

    // Stall clock: runs while a video producer is producing and its bytes don't grow.
    if (!videoProducing) track.videoGrewAt = undefined;
    else if (videoGrew || track.videoGrewAt === undefined) track.videoGrewAt = at;
    const videoStalledMs = videoProducing && track.videoGrewAt !== undefined ? at - track.videoGrewAt : 0;

    // Viewers: a rotating sample, extrapolated.
    let rttSum = 0;
    let rttN = 0;
    const egressLoss = { sum: 0, n: 0 };
    if (viewers.length > 0 && viewerCallBudget > 0) {
      const picked: ms.Consumer[][] = [];
      let callsLeft = viewerCallBudget;
      for (let i = 0; i < viewers.length && picked.length < this.#viewersPerRoom; i++) {
        const viewer = viewers[(track.viewerCursor + i) % viewers.length]!.filter((c) => !c.closed);
        if (viewer.length > callsLeft) break;
        callsLeft -= viewer.length;
        picked.push(viewer);
      }
      track.viewerCursor = (track.viewerCursor + picked.length) % Math.max(1, viewers.length);
      if (picked.length > 0) {
        let outBps = 0;
        await Promise.all(
          picked.flat().map(async (consumer) => {
            calls++;
            const stats = await consumer.getStats().catch(() => [] as Array<ms.ConsumerStat>);
            const outbound = stats.find((s) => s.type === 'outbound-rtp');
            observers?.consumerScore(consumer.score.score);
            if (!outbound) return;
            outBps += outbound.bitrate;
            if (outbound.roundTripTime && outbound.roundTripTime > 0) {
              rttSum += outbound.roundTripTime;
              rttN++;
              observers?.rtt('viewer', outbound.roundTripTime / 1000);
            }
            if (consumer.kind === 'video' && !consumer.paused) {
              egressLoss.sum += outbound.fractionLost / 256;
              egressLoss.n++;
            }
          }),
        );
        track.outPerViewerBps = outBps / picked.length;
      }
    }
    if (viewers.length === 0) track.outPerViewerBps = 0;
    const bitrateOutBps = track.outPerViewerBps * viewers.length;

    // HLS playlist freshness.
    const hlsStatus = this.#options.hls?.status(room.id);
    const recording = room.live && !!hlsStatus?.recording && hlsStatus.recordingSince !== undefined;
    let playlistAgeSeconds: number | null = null;
    let hlsAlertAgeSeconds: number | null = null;
    if (recording && hlsStatus?.recordingSince !== undefined) {
      const updated =
        hlsStatus.playlistUpdatedAt !== undefined && hlsStatus.playlistUpdatedAt >= hlsStatus.recordingSince ? hlsStatus.playlistUpdatedAt : undefined;
      playlistAgeSeconds = (at - (updated ?? hlsStatus.recordingSince)) / 1000;
      hlsAlertAgeSeconds = Math.max(0, at - (updated ?? hlsStatus.recordingSince + HLS_STARTUP_GRACE_MS)) / 1000;
    }

    const hlsViewers = this.#options.qoe.hlsViewers(room.id);
    const lossPercent = expected > 0 ? (lost / expected) * 100 : null;
    const rttMs = rttN > 0 ? Math.round(rttSum / rttN) : publisherRttMs !== null ? Math.round(publisherRttMs) : null;
    const sample: RoomSample = {
      at,
      live: room.live,
      videoBitrateBps: videoBps,
      audioBitrateBps: audioBps,
      codec,
      score,
      lossPercent,
      lossPackets: { lost, expected },
      rttMs,
      jitterMs,
      webrtcViewers: viewers.length,
      hlsViewers,
      bitrateOutBps,
      egressLoss,
      videoProducing,
      videoStalledMs,
      hlsRecording: recording,
      playlistAgeSeconds,
      hlsAlertAgeSeconds,
    };
    if (this.#closed || room.closed) return { calls, signal: undefined };
    track.latest = sample;
    track.history.push({
      t: at,
      bitrateInBps: Math.round(videoBps + audioBps),
      bitrateOutBps: Math.round(bitrateOutBps),
      viewers: viewers.length + hlsViewers,
      lossPercent: round1(lossPercent ?? 0),
    });
    return {
      calls,
      signal: {
        room: room.id,
        at,
        live: room.live,
        videoProducing,
        videoStalledMs,
        videoBitrateBps: videoBps,
        lossPercent,
        viewers: viewers.length + hlsViewers,
        hls: { recording, playlistAgeSeconds: hlsAlertAgeSeconds },
      },
    };
  }
}
