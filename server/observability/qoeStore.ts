/**
 * QoE reports from watch pages, aggregated per room.
 *
 * - Sessions are identified by (room, sessionId). A session is *active* while
 *   it reported within the last 15 s; active HLS sessions are the HLS viewer
 *   estimate (a CDN in front of the origin hides playlist requests, so the
 *   players' own beacons are the honest count).
 * - Counters in reports are cumulative; the store adds their increments
 *   (clamped to what the elapsed wall time allows, so one bad client can't
 *   skew a room) into 5 s buckets covering the last 60 s. Aggregates are
 *   computed from those buckets: freezes per minute of watching, dropped
 *   frames %, decoded frames per watching second (WebRTC: the delivered fps).
 * - Memory is bounded: at most `maxSessions` sessions (least recently seen
 *   evicted), fixed buckets per room, the last 200 first-frame times per room.
 * - Each session may report about once a second (token bucket: 1/s, burst 2).
 */
import type { QoeReport } from '../contracts/qoeReport.js';
import type { RoomQoe as QoeAggregate } from '../contracts/adminApi.js';
import { RingBuffer } from './ringBuffer.js';

export interface QoeRoomCounters {
  /** HLS sessions that became active / inactive. */
  hlsJoins: number;
  hlsLeaves: number;
  /** Watching time reported by HLS sessions, seconds. */
  hlsWatchSeconds: number;
}

export interface QoeStoreOptions {
  now?: () => number;
  /** Aggregation window. Default 60 s. */
  windowMs?: number;
  /** A session counts as watching this long after its last report. Default 15 s. */
  activeMs?: number;
  /** Baselines (last cumulative values) are kept this long. Default 120 s. */
  retainMs?: number;
  maxSessions?: number;
  ratePerSecond?: number;
  rateBurst?: number;
  /** Called once per session with its join-to-first-frame time. */
  onFirstFrame?: (transport: QoeReport['transport'], ms: number) => void;
}

interface Session {
  room: string;
  id: string;
  transport: QoeReport['transport'];
  lastSeen: number;
  active: boolean;
  tokens: number;
  tokensAt: number;
  framesDecoded: number;
  framesDropped: number;
  freezeCount: number;
  watchingSeconds: number;
  jitterBufferDelayMs: number | undefined;
  latencyMs: number | undefined;
  firstFrameSeen: boolean;
}

interface Bucket {
  start: number;
  freezes: number;
  watchSeconds: number;
  decoded: number;
  dropped: number;
  rtcDecoded: number;
  rtcWatchSeconds: number;
}

interface RoomQoe {
  sessions: Map<string, Session>;
  buckets: Bucket[];
  firstFrames: RingBuffer<{ at: number; ms: number }>;
  counters: QoeRoomCounters;
}

const BUCKET_MS = 5000;
const FIRST_FRAME_WINDOW_MS = 5 * 60_000;
/** A first report may cover at most this much watching (the page reports every ~5 s). */
const FIRST_REPORT_MAX_SECONDS = 30;
const MAX_FPS = 240;
const MAX_FREEZES_PER_SECOND = 10;

export type IngestResult = 'accepted' | 'rate_limited';

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

export class QoeStore {
  readonly #now: () => number;
  readonly #windowMs: number;
  readonly #activeMs: number;
  readonly #retainMs: number;
  readonly #maxSessions: number;
  readonly #rate: number;
  readonly #burst: number;
  readonly #onFirstFrame: QoeStoreOptions['onFirstFrame'];
  readonly #rooms = new Map<string, RoomQoe>();
  /** Every session, least recently seen first. */
  readonly #lru = new Map<string, Session>();

  constructor(options: QoeStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#activeMs = options.activeMs ?? 15_000;
    this.#retainMs = Math.max(options.retainMs ?? 120_000, this.#activeMs);
    this.#maxSessions = options.maxSessions ?? 20_000;
    this.#rate = options.ratePerSecond ?? 1;
    this.#burst = options.rateBurst ?? 2;
    this.#onFirstFrame = options.onFirstFrame;
  }

  get sessionCount(): number {
    return this.#lru.size;
  }

  ingest(roomId: string, report: QoeReport): IngestResult {
    const now = this.#now();
    const key = `${roomId}\n${report.sessionId}`;
    let session = this.#lru.get(key);
    const room = this.#room(roomId);
    if (session) {
      session.tokens = Math.min(this.#burst, session.tokens + ((now - session.tokensAt) / 1000) * this.#rate);
      session.tokensAt = now;
      if (session.tokens < 1) return 'rate_limited';
      session.tokens -= 1;
    } else {
      while (this.#lru.size >= this.#maxSessions) this.#evictOldest();
      session = {
        room: roomId,
        id: report.sessionId,
        transport: report.transport,
        lastSeen: now,
        active: false,
        tokens: this.#burst - 1,
        tokensAt: now,
        framesDecoded: 0,
        framesDropped: 0,
        freezeCount: 0,
        watchingSeconds: 0,
        jitterBufferDelayMs: undefined,
        latencyMs: undefined,
        firstFrameSeen: false,
      };
      room.sessions.set(report.sessionId, session);
    }
    const isNew = session.watchingSeconds === 0 && session.framesDecoded === 0 && !session.active;

    // Increments since the last report, bounded by the wall time that passed.
    const maxWatch = isNew ? FIRST_REPORT_MAX_SECONDS : (now - session.lastSeen) / 1000 + 5;
    const delta = (current: number, previous: number) => (current >= previous ? current - previous : current);
    const dWatch = Math.min(delta(report.watchingSeconds, session.watchingSeconds), maxWatch);
    const dDecoded = Math.min(delta(report.framesDecoded, session.framesDecoded), Math.ceil(maxWatch * MAX_FPS));
    const dDropped = Math.min(delta(report.framesDropped, session.framesDropped), Math.ceil(maxWatch * MAX_FPS));
    const dFreezes = Math.min(delta(report.freezeCount, session.freezeCount), Math.ceil(maxWatch * MAX_FREEZES_PER_SECOND));

    if (session.transport !== report.transport) session.active = false;
    session.transport = report.transport;
    if (!session.active) {
      session.active = true;
      if (session.transport === 'hls') room.counters.hlsJoins++;
    }
    session.lastSeen = now;
    session.framesDecoded = report.framesDecoded;
    session.framesDropped = report.framesDropped;
    session.freezeCount = report.freezeCount;
    session.watchingSeconds = report.watchingSeconds;
    if (report.jitterBufferDelayMs !== undefined) session.jitterBufferDelayMs = report.jitterBufferDelayMs;
    if (report.latencyMs !== undefined) session.latencyMs = report.latencyMs;
    this.#lru.delete(key);
    this.#lru.set(key, session);

    const bucket = this.#bucket(room, now);
    bucket.freezes += dFreezes;
    bucket.watchSeconds += dWatch;
    bucket.decoded += dDecoded;
    bucket.dropped += dDropped;
    if (session.transport === 'webrtc') {
      bucket.rtcDecoded += dDecoded;
      bucket.rtcWatchSeconds += dWatch;
    } else {
      room.counters.hlsWatchSeconds += dWatch;
    }

    if (report.firstFrameMs !== undefined && !session.firstFrameSeen) {
      session.firstFrameSeen = true;
      room.firstFrames.push({ at: now, ms: report.firstFrameMs });
      this.#onFirstFrame?.(session.transport, report.firstFrameMs);
    }
    return 'accepted';
  }

  /** Active HLS sessions of a room: the HLS viewer estimate. */
  hlsViewers(roomId: string): number {
    const room = this.#rooms.get(roomId);
    if (!room) return 0;
    const since = this.#now() - this.#activeMs;
    let n = 0;
    for (const session of room.sessions.values()) if (session.transport === 'hls' && session.lastSeen >= since) n++;
    return n;
  }

  aggregate(roomId: string): QoeAggregate & { fps: number | null } {
    const room = this.#rooms.get(roomId);
    const empty = { sessions: 0, freezesPerMinute: 0, droppedFramesPercent: 0, jitterBufferDelayMs: null, latencyMs: null, firstFrameMsP50: null, fps: null };
    if (!room) return empty;
    const now = this.#now();
    const since = now - this.#activeMs;
    let sessions = 0;
    const jitter: number[] = [];
    const latency: number[] = [];
    for (const session of room.sessions.values()) {
      if (session.lastSeen < since) continue;
      sessions++;
      if (session.jitterBufferDelayMs !== undefined) jitter.push(session.jitterBufferDelayMs);
      if (session.latencyMs !== undefined) latency.push(session.latencyMs);
    }
    const total = { freezes: 0, watchSeconds: 0, decoded: 0, dropped: 0, rtcDecoded: 0, rtcWatchSeconds: 0 };
    for (const bucket of room.buckets) {
      if (bucket.start + BUCKET_MS <= now - this.#windowMs) continue;
      total.freezes += bucket.freezes;
      total.watchSeconds += bucket.watchSeconds;
      total.decoded += bucket.decoded;
      total.dropped += bucket.dropped;
      total.rtcDecoded += bucket.rtcDecoded;
      total.rtcWatchSeconds += bucket.rtcWatchSeconds;
    }
    const firstFrames = room.firstFrames
      .toArray()
      .filter((f) => now - f.at <= FIRST_FRAME_WINDOW_MS)
      .map((f) => f.ms);
    const jitterMedian = median(jitter);
    const latencyMedian = median(latency);
    const firstFrameMedian = median(firstFrames);
    return {
      sessions,
      freezesPerMinute: total.watchSeconds > 0 ? round2(total.freezes / (total.watchSeconds / 60)) : 0,
      droppedFramesPercent: total.decoded + total.dropped > 0 ? round2((total.dropped / (total.decoded + total.dropped)) * 100) : 0,
      jitterBufferDelayMs: jitterMedian === null ? null : Math.round(jitterMedian),
      latencyMs: latencyMedian === null ? null : Math.round(latencyMedian),
      firstFrameMsP50: firstFrameMedian === null ? null : Math.round(firstFrameMedian),
      fps: total.rtcWatchSeconds >= 1 ? round2(total.rtcDecoded / total.rtcWatchSeconds) : null,
    };
  }

  counters(roomId: string): QoeRoomCounters {
    return { ...(this.#rooms.get(roomId)?.counters ?? { hlsJoins: 0, hlsLeaves: 0, hlsWatchSeconds: 0 }) };
  }

  /** Marks silent sessions inactive (an HLS leave) and forgets old ones. Call periodically. */
  prune(): void {
    const now = this.#now();
    for (const [key, session] of this.#lru) {
      if (session.lastSeen >= now - this.#activeMs) break;
      if (session.active) {
        session.active = false;
        if (session.transport === 'hls') this.#leave(session);
      }
      if (session.lastSeen < now - this.#retainMs) this.#forget(key, session);
    }
    for (const room of this.#rooms.values()) {
      room.buckets = room.buckets.filter((b) => b.start + BUCKET_MS > now - this.#windowMs);
    }
  }

  /** The room closed: its sessions and aggregates go. */
  forgetRoom(roomId: string): void {
    const room = this.#rooms.get(roomId);
    if (!room) return;
    for (const session of room.sessions.values()) this.#lru.delete(`${roomId}\n${session.id}`);
    this.#rooms.delete(roomId);
  }

  clear(): void {
    this.#rooms.clear();
    this.#lru.clear();
  }

  #room(roomId: string): RoomQoe {
    let room = this.#rooms.get(roomId);
    if (!room) {
      room = { sessions: new Map(), buckets: [], firstFrames: new RingBuffer(200), counters: { hlsJoins: 0, hlsLeaves: 0, hlsWatchSeconds: 0 } };
      this.#rooms.set(roomId, room);
    }
    return room;
  }

  #bucket(room: RoomQoe, now: number): Bucket {
    const start = Math.floor(now / BUCKET_MS) * BUCKET_MS;
    let bucket = room.buckets[room.buckets.length - 1];
    if (!bucket || bucket.start !== start) {
      bucket = { start, freezes: 0, watchSeconds: 0, decoded: 0, dropped: 0, rtcDecoded: 0, rtcWatchSeconds: 0 };
      room.buckets.push(bucket);
      const keep = Math.ceil(this.#windowMs / BUCKET_MS) + 1;
      if (room.buckets.length > keep) room.buckets.splice(0, room.buckets.length - keep);
    }
    return bucket;
  }

  #evictOldest(): void {
    const first = this.#lru.entries().next();
    if (first.done) return;
    const [key, session] = first.value;
    if (session.active && session.transport === 'hls') this.#leave(session);
    this.#forget(key, session);
  }

  #leave(session: Session): void {
    const room = this.#rooms.get(session.room);
    if (room) room.counters.hlsLeaves++;
  }

  #forget(key: string, session: Session): void {
    this.#lru.delete(key);
    const room = this.#rooms.get(session.room);
    room?.sessions.delete(session.id);
  }
}
