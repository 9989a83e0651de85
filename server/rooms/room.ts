/**
 * A broadcast room: its sources (a primary and a backup slot), its program
 * (what the active source sends), its routers (RouterSet) and its audience.
 *
 * The room is driven through domain calls and answers with RoomError kinds
 * and RoomNotices; it knows no socket and no wire code, so socket.io
 * signaling, WHIP/WHEP or a cluster peer can all drive it.
 *
 * A room costs no router until something broadcasts: viewers may wait in a
 * room that has never been live, and get their transport once it is.
 *
 * Which slot is on air is the BackupSwitch's decision (backupSwitch.ts). The
 * program is relayed (programRelay.ts: tracks that survive a switch) for
 * single-encoding ingest encoders (WHIP, RTMP, SRT) and for any room with a
 * backup source; a browser publisher alone keeps its own producers (no Node
 * hop, and its simulcast layers), see `#relayWanted`.
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import type { WorkerPool } from '../media/workerPool.js';
import { SafeEmitter } from '../lib/safeEmitter.js';
import { RouterSet, type RouterLayoutEntry } from '../media/routerSet.js';
import type { PipeStrategy } from '../media/pipes/pipeStrategy.js';
import type { RoomListItem } from '../contracts/adminApi.js';
import type { MediaSource, SourceEndReason, SourceSlot } from '../sources/mediaSource.js';
import { WebRtcPublisherSource } from '../sources/webrtcPublisherSource.js';
import type { WebRtcTransportDescription } from '../media/browserTransport.js';
import { WebRtcViewer, type ConsumerDescription } from '../viewers/webrtcViewer.js';
import type { ProgramSlotStatus, ProgramStatus, ProgramSwitch } from '../contracts/programApi.js';
import { Program, type ProgramTrack } from './program.js';
import { BackupSwitch, type SlotProbe, type SwitchDecision } from './backupSwitch.js';
import { RoomError } from './roomError.js';
import type { Eviction, ParticipantLink, TrackInfo } from './roomNotices.js';

export interface RoomOptions {
  maxConsumersPerRouter: number;
  /** Video producers' keyFrameRequestDelay (KEYFRAME_REQUEST_DELAY_MS). */
  keyFrameRequestDelayMs: number;
  /** WebRTC viewers per room; 0 = unlimited. */
  maxWebRtcViewers: number;
  /** Backup ingest: the slot on air is left after this long without video (INGEST_STALL_MS). Default 1000. */
  ingestStallMs?: number;
  /** Backup ingest: back to the primary once it was healthy this long (INGEST_FAILBACK_S). Default 10 000. */
  ingestFailbackMs?: number;
}

/** This node's figures for a room (the parts of a `/api/rooms` item a room knows itself). */
export type RoomSummary = Pick<RoomListItem, 'id' | 'live' | 'viewers' | 'workers' | 'routers' | 'createdAt'>;

export interface RoomDeps {
  pool: WorkerPool;
  pipe: PipeStrategy;
  options: RoomOptions;
  logger: Logger;
}

type RoomEvents = {
  /** No participant left (the registry starts the grace countdown). */
  empty: [];
  closed: [];
  /** The program's tracks changed (on air / off air / new source). */
  programChanged: [];
  sourceAdded: [source: MediaSource];
  sourceRemoved: [source: MediaSource, reason: SourceEndReason];
  viewerJoined: [viewer: WebRtcViewer];
  viewerLeft: [viewer: WebRtcViewer];
  /** The program changed slot (primary ↔ backup). */
  programSwitched: [change: ProgramSwitch];
};

interface PublisherSeat {
  source: MediaSource;
  link: ParticipantLink | undefined;
  /** When it took the seat (ms). */
  since: number;
}

const INGEST_PROTOCOLS = new Set(['whip', 'rtmp', 'srt']);

const trackInfo = (track: ProgramTrack): TrackInfo => ({ trackId: track.id, kind: track.kind, label: track.label });

export class Room extends SafeEmitter<RoomEvents> {
  readonly id: string;
  readonly createdAt = new Date();
  readonly program: Program;
  readonly #deps: RoomDeps;
  readonly #switch: BackupSwitch;
  readonly #log: Logger;
  readonly #routers: RouterSet;
  readonly #viewers = new Map<string, WebRtcViewer>();
  readonly #seats = new Map<SourceSlot, PublisherSeat>();
  #everLive = false;
  #statusTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(id: string, deps: RoomDeps) {
    super();
    this.id = id;
    this.#deps = deps;
    this.#log = deps.logger.child({ room: id });
    this.program = new Program({ relayWanted: (source) => this.#relayWanted(source), logger: this.#log });
    this.#switch = new BackupSwitch({
      stallMs: deps.options.ingestStallMs ?? 1000,
      failbackMs: deps.options.ingestFailbackMs ?? 10_000,
      probe: (slot) => this.#probe(slot),
    });
    this.#switch.on('switched', (decision) => this.#onSwitched(decision));
    this.#switch.on('prearm', (slot) => {
      const source = this.#seats.get(slot)?.source;
      if (source) this.program.relay?.prearm(source);
    });
    this.#routers = new RouterSet({
      roomId: id,
      pool: deps.pool,
      pipe: deps.pipe,
      maxConsumersPerRouter: deps.options.maxConsumersPerRouter,
      tracks: () => this.program.tracks(),
      logger: this.#log,
    });
    this.program.on('trackAdded', (track) => this.#onTrackAdded(track));
    this.program.on('trackRemoved', (track) => this.#onTrackRemoved(track));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get live(): boolean {
    return this.program.live;
  }

  /** Has had a source at some point (only such rooms cost routers and are listed). */
  get everLive(): boolean {
    return this.#everLive;
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  /** Viewers and sources fed from this node; a cascade (fed by the origin node) is nobody here. */
  get participantCount(): number {
    return this.#viewers.size + this.#localSeats().length;
  }

  get hasPublisher(): boolean {
    return this.#localSeats().length > 0;
  }

  sources(): MediaSource[] {
    return [...this.#seats.values()].map((seat) => seat.source);
  }

  viewers(): WebRtcViewer[] {
    return [...this.#viewers.values()];
  }

  trackInfos(): TrackInfo[] {
    return this.program.tracks().map(trackInfo);
  }

  summary(): RoomSummary {
    return {
      id: this.id,
      live: this.live,
      viewers: this.viewerCount,
      workers: this.#routers.workers(),
      routers: this.#routers.entries().length,
      createdAt: this.createdAt.toISOString(),
    };
  }

  /** Where viewers are, per router (tests, drills and the operator API read this). */
  routerLayout(): Array<{ routerId: string; workerIndex: number; publisher: boolean; viewers: number }> {
    return this.#routers.layout().map((entry: RouterLayoutEntry) => ({
      routerId: entry.routerId,
      workerIndex: entry.workerIndex,
      publisher: entry.publisher,
      viewers: this.viewers().filter((v) => v.routerEntry?.id === entry.routerId).length,
    }));
  }

  /** The program's router and current audio/video tracks (what the recorder consumes). */
  programMedia(): { router: ms.Router; audio: ms.Producer | undefined; video: ms.Producer | undefined } | undefined {
    const origin = this.#routers.origin;
    if (!origin) return undefined;
    return { router: origin.router, audio: this.program.trackOfKind('audio')?.producer, video: this.program.trackOfKind('video')?.producer };
  }

  /** Read-only view for the stats sampler: the program's producers and each viewer's consumers. */
  mediaSnapshot(): { producers: Array<{ producer: ms.Producer; kind: ms.MediaKind; source: string | undefined }>; viewers: ms.Consumer[][] } {
    return {
      producers: this.program.tracks().map((t) => ({ producer: t.producer, kind: t.kind, source: t.label })),
      viewers: this.viewers().map((v) => v.consumers()),
    };
  }

  // --- sources ---------------------------------------------------------------

  /**
   * A socket.io publisher takes the primary slot; one already there is
   * replaced (that is also how a publisher whose old connection has not timed
   * out yet comes back).
   */
  async admitWebRtcPublisher(link: ParticipantLink): Promise<WebRtcPublisherSource> {
    this.#assertOpen();
    const origin = await this.#routers.ensureOrigin();
    this.#assertOpen();
    const source = new WebRtcPublisherSource({
      router: origin.router,
      webRtcServer: this.#deps.pool.webRtcServer(origin.workerIndex),
      slot: 'primary',
      keyFrameRequestDelayMs: this.#deps.options.keyFrameRequestDelayMs,
      logger: this.#log,
    });
    this.addSource(source, { replace: true, link });
    return source;
  }

  /** The router a source of this room must put its producers on (created on first use). */
  async ingestRouter(): Promise<{ router: ms.Router; workerIndex: number }> {
    this.#assertOpen();
    const origin = await this.#routers.ensureOrigin();
    return { router: origin.router, workerIndex: origin.workerIndex };
  }

  /** Puts `source` in its slot; `replace` ends a source already there, otherwise 'slot-busy'. */
  addSource(source: MediaSource, options: { replace: boolean; link?: ParticipantLink }): void {
    this.#assertOpen();
    const previous = this.#seats.get(source.slot);
    if (previous && !options.replace) throw new RoomError('slot-busy', `the ${source.slot} slot of room "${this.id}" is taken`);
    if (previous) {
      this.#seats.delete(source.slot);
      previous.link?.evicted({ kind: 'kicked', reason: 'another publisher took over this room' });
      previous.source.end('replaced');
    }
    this.#seats.set(source.slot, { source, link: options.link, since: Date.now() });
    this.#everLive = true;
    source.on('ended', (reason) => this.#onSourceEnded(source, reason));
    this.#log.info({ source: source.id, protocol: source.protocol, slot: source.slot }, 'source added');
    this.safeEmit('sourceAdded', source);
    // A backup arrived: relay the program now, not at the failover (viewers would renegotiate then).
    if (source.slot === 'backup') this.program.reconsiderRelay();
    this.#updateProgram();
    this.#scheduleStatus();
  }

  /** The owner of `source` leaves (its connection closed or it stopped). */
  removeSource(source: MediaSource): void {
    source.end('left');
  }

  /**
   * An operator puts `slot` on air (and pins the backup: no automatic
   * fail-back). Throws BackupSwitchError when the slot is empty or stalled.
   */
  switchProgram(slot: SourceSlot): void {
    this.#assertOpen();
    this.#switch.manual(slot);
  }

  /** The program's slots and switches (admin API, dashboard). */
  programStatus(): ProgramStatus {
    const now = Date.now();
    const slots = (['primary', 'backup'] as const).map((slot): ProgramSlotStatus => {
      const source = this.#seats.get(slot)?.source;
      const probe = this.#probe(slot);
      const health = source?.health();
      return {
        slot,
        present: !!source,
        protocol: source?.protocol ?? null,
        lastMediaAgeMs: probe?.lastMediaAt != null ? Math.max(0, now - probe.lastMediaAt) : null,
        bitrateBps: health?.bitrateBps ?? null,
        keyFrameIntervalMs: health?.keyFrameIntervalMs ?? null,
        healthy: this.#switch.healthy(slot, now),
      };
    });
    const last = this.#switch.lastSwitch;
    return {
      room: this.id,
      live: this.live,
      active: this.#switch.active ?? null,
      relayed: !!this.program.relay && !this.program.relay.closed,
      pinned: this.#switch.pinned ?? null,
      slots,
      lastSwitch: last ? this.#switchRecord(last) : null,
      switches: this.#switch.switches,
      settings: { stallMs: this.#deps.options.ingestStallMs ?? 1000, failbackSeconds: (this.#deps.options.ingestFailbackMs ?? 10_000) / 1000 },
    };
  }

  // --- viewers ---------------------------------------------------------------

  admitViewer(link: ParticipantLink): WebRtcViewer {
    this.#assertOpen();
    const cap = this.#deps.options.maxWebRtcViewers;
    if (cap > 0 && this.viewerCount >= cap) throw new RoomError('room-full', `room "${this.id}" has reached its WebRTC viewer limit (${cap})`);
    const viewer = new WebRtcViewer(link, this.#log);
    this.#viewers.set(viewer.id, viewer);
    this.#log.info({ viewer: viewer.id }, 'viewer joined');
    this.safeEmit('viewerJoined', viewer);
    this.#scheduleStatus();
    return viewer;
  }

  /** The viewer's recv transport, on a router placed for it. Needs a broadcast (or one that was). */
  async openViewerTransport(viewer: WebRtcViewer): Promise<WebRtcTransportDescription> {
    this.#assertMember(viewer);
    if (viewer.hasTransport) throw new RoomError('limit-reached', 'a recv transport already exists for this viewer');
    // A room that never had a broadcast costs no router; one that had keeps (or rebuilds) its
    // origin, so viewers coming back after a worker failure are ready when the publisher is.
    if (!this.#everLive) throw new RoomError('not-live', `room "${this.id}" has no broadcast yet; wait for a track`);
    if (!this.#routers.origin) await this.#routers.ensureOrigin();
    const entry = viewer.routerEntry ?? (await this.#routers.reserveViewer());
    if (this.#closed || viewer.closed || !this.#viewers.has(viewer.id)) {
      if (!viewer.routerEntry) this.#routers.release(entry);
      throw new RoomError('not-joined', 'left the room while joining');
    }
    viewer.routerEntry = entry;
    return viewer.openTransport(entry, this.#deps.pool.webRtcServer(entry.workerIndex));
  }

  async consume(viewer: WebRtcViewer, trackId: string, rtpCapabilities: ms.RtpCapabilities): Promise<ConsumerDescription> {
    this.#assertMember(viewer);
    const entry = viewer.routerEntry;
    if (!entry) throw new RoomError('not-found', 'create a recv transport before consuming');
    if (entry.router.closed) throw new RoomError('unavailable', 'media router is gone; rejoin');
    const track = this.program.track(trackId);
    if (!track) throw new RoomError('not-found', `no track ${trackId} in this room`);
    if (viewer.isConsuming(trackId)) throw new RoomError('limit-reached', `already consuming ${trackId}`);
    let localProducerId: string;
    try {
      localProducerId = await this.#routers.localProducerId(entry, track);
    } catch {
      throw new RoomError('not-found', `track ${trackId} is not available on this router`);
    }
    return viewer.consume(trackInfo(track), localProducerId, rtpCapabilities);
  }

  /** A viewer leaves on its own (leave request or disconnect). Idempotent. */
  removeViewer(viewer: WebRtcViewer): void {
    if (!this.#viewers.delete(viewer.id)) {
      viewer.close();
      return;
    }
    viewer.close();
    if (viewer.routerEntry) this.#routers.release(viewer.routerEntry);
    viewer.routerEntry = undefined;
    this.#log.info({ viewer: viewer.id }, 'viewer left');
    this.safeEmit('viewerLeft', viewer);
    this.#afterLeave();
  }

  // --- failures and lifecycle -----------------------------------------------------

  /** A worker died: drop the media that lived there and send affected clients to rejoin. */
  handleWorkerDied(workerIndex: number): void {
    if (this.#closed) return;
    const { originLost, lost } = this.#routers.workerDied(workerIndex);
    if (lost.length === 0) return;
    const reason = `media worker ${workerIndex} failed`;
    this.#log.warn({ worker: workerIndex, originLost }, 'rebuilding room after worker death');
    for (const viewer of this.viewers()) {
      // When the origin is gone, every viewer lost its feed.
      if (originLost || (viewer.routerEntry && lost.includes(viewer.routerEntry))) this.#evictViewer(viewer, { kind: 'reconnect', reason });
    }
    // Sources on the origin end by themselves ('media-lost') as its router closed.
  }

  /** Everyone is told and all routers close. Idempotent. */
  close(reason = 'room closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#statusTimer) clearTimeout(this.#statusTimer);
    this.#switch.close();
    for (const viewer of this.viewers()) this.#evictViewer(viewer, { kind: 'roomClosed', reason });
    for (const [slot, seat] of [...this.#seats]) {
      this.#seats.delete(slot);
      seat.link?.evicted({ kind: 'roomClosed', reason });
      seat.source.end('room-closed');
    }
    this.program.close();
    this.#routers.close();
    this.#log.info({ reason }, 'room closed');
    this.safeEmit('closed');
    this.removeAllListeners();
  }

  #onSourceEnded(source: MediaSource, reason: SourceEndReason): void {
    const seat = this.#seats.get(source.slot);
    if (seat?.source === source) {
      this.#seats.delete(source.slot);
      // Lost media (worker death): the owner must rebuild; it's told so, unlike a leave.
      if (reason === 'media-lost') seat.link?.evicted({ kind: 'reconnect', reason: 'the media worker holding the broadcast failed' });
      if (reason === 'failed') seat.link?.evicted({ kind: 'reconnect', reason: 'the broadcast failed' });
    }
    if (this.#closed) return;
    this.#log.info({ source: source.id, reason }, 'source removed');
    this.safeEmit('sourceRemoved', source, reason);
    this.#updateProgram();
    this.#scheduleStatus();
    this.#afterLeave();
  }

  /** A source came or went: the switch decides at once (not at its next tick). */
  #updateProgram(): void {
    this.#switch.evaluate();
    const active = this.#switch.active;
    this.program.setSource(active ? this.#seats.get(active)?.source : undefined);
  }

  #onSwitched(decision: SwitchDecision): void {
    if (this.#closed) return;
    this.program.setSource(decision.to ? this.#seats.get(decision.to)?.source : undefined);
    if (!decision.from || !decision.to) return;
    const change = this.#switchRecord(decision);
    this.#log.warn({ from: change.from, to: change.to, reason: change.reason }, 'program switched slot');
    this.safeEmit('programSwitched', change);
  }

  #switchRecord(decision: SwitchDecision): ProgramSwitch {
    return { room: this.id, from: decision.from ?? 'primary', to: decision.to ?? 'primary', reason: decision.reason, at: new Date(decision.at).toISOString() };
  }

  /** What the switch needs to know about a slot: the relay's clock for the source on air is exact, polled counters lag. */
  #probe(slot: SourceSlot): SlotProbe | undefined {
    const seat = this.#seats.get(slot);
    if (!seat) return undefined;
    const health = seat.source.health();
    const hasVideo = seat.source.tracks().some((t) => t.kind === 'video');
    const relayed = hasVideo ? this.program.relay?.lastVideoInputAt(seat.source.id) : undefined;
    return { since: seat.since, lastMediaAt: relayed ?? (hasVideo ? health.lastVideoPacketAt : health.lastPacketAt) };
  }

  /**
   * A relay costs a Node hop per packet and carries one encoding: worth it where
   * a switch may happen (a backup is here) or costs nothing in layers (ingest
   * encoders send one encoding).
   */
  #relayWanted(source: MediaSource): boolean {
    if (source.protocol === 'cascade') return false;
    if (this.#seats.has('backup')) return true;
    const singleEncoding = source.tracks().every((t) => (t.producer.rtpParameters.encodings?.length ?? 1) <= 1);
    return INGEST_PROTOCOLS.has(source.protocol) && singleEncoding;
  }

  #onTrackAdded(track: ProgramTrack): void {
    this.#routers.trackAdded(track);
    for (const viewer of this.#viewers.values()) viewer.link.notify({ type: 'trackAdded', track: trackInfo(track) });
    this.safeEmit('programChanged');
    this.#scheduleStatus();
  }

  #onTrackRemoved(track: ProgramTrack): void {
    this.#routers.trackRemoved(track.id);
    for (const viewer of this.#viewers.values()) viewer.link.notify({ type: 'trackRemoved', trackId: track.id });
    if (!this.#closed) this.safeEmit('programChanged');
    this.#scheduleStatus();
  }

  #evictViewer(viewer: WebRtcViewer, eviction: Eviction): void {
    this.removeViewer(viewer);
    viewer.link.evicted(eviction);
  }

  #afterLeave(): void {
    this.#scheduleStatus();
    if (!this.#closed && this.participantCount === 0) this.safeEmit('empty');
  }

  #localSeats(): PublisherSeat[] {
    return [...this.#seats.values()].filter((seat) => seat.source.protocol !== 'cascade');
  }

  #assertOpen(): void {
    if (this.#closed) throw new RoomError('unavailable', `room "${this.id}" is closed`);
  }

  #assertMember(viewer: WebRtcViewer): void {
    if (!this.#viewers.has(viewer.id) || viewer.closed) throw new RoomError('not-joined', 'join a room first');
  }

  #scheduleStatus(): void {
    if (this.#statusTimer || this.#closed) return;
    // Throttled: a burst of joins produces one audience update.
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      const notice = { type: 'status', viewers: this.viewerCount, live: this.live } as const;
      for (const viewer of this.#viewers.values()) viewer.link.notify(notice);
      for (const seat of this.#seats.values()) seat.link?.notify(notice);
    }, 250);
    this.#statusTimer.unref();
  }
}
