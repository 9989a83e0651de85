/**
 * A broadcast room: one publisher, many viewers, spread over routers on
 * several workers.
 *
 * The publisher's router sits on the least-loaded worker. Viewers fill
 * routers up to MAX_CONSUMERS_PER_ROUTER consumer slots; when every router of
 * the room is full, a new router is opened on the least-loaded worker (workers
 * the room does not use yet come first) and the publisher's producers are
 * piped to it with router.pipeToRouter, so one broadcast can use every core.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import type { WorkerPool } from '../media/workerPool.js';
import { placeViewer } from '../media/placement.js';
import type { MediaKind, ProducerInfo, RequestPayload, ResponseData, TransportInfo } from '../contracts/signaling.js';
import { SignalingError } from '../signaling/signalingError.js';
import { Peer, peerLimits, type EvictionReason } from './peer.js';
import { RouterEntry } from './routerEntry.js';

/** Each viewer reserves this many consumer slots (one audio + one video). */
export const SLOTS_PER_VIEWER = 2;

export interface RoomOptions {
  maxConsumersPerRouter: number;
  /** Video producers' keyFrameRequestDelay (see KEYFRAME_REQUEST_DELAY_MS); default 0. */
  keyFrameRequestDelayMs?: number;
  /** 0 = unlimited. */
  maxWebRtcViewers: number;
}

export interface RoomSummary {
  id: string;
  live: boolean;
  viewers: number;
  workers: number[];
  routers: number;
  createdAt: string;
}

interface RoomProducer {
  producer: ms.Producer;
  kind: MediaKind;
  source: string | undefined;
}

type RoomEvents = {
  empty: [];
  closed: [];
  changed: [];
  /** A producer appeared or went away (the HLS recorder follows this). */
  producersChanged: [];
  /** A peer joined / left (for whatever reason): the stats sampler counts these. */
  peerJoined: [peer: Peer];
  peerLeft: [peer: Peer];
};

export class Room extends EventEmitter<RoomEvents> {
  readonly createdAt = new Date();
  readonly #pool: WorkerPool;
  readonly #options: RoomOptions;
  readonly #log: Logger;
  readonly #peers = new Map<string, Peer>();
  readonly #producers = new Map<string, RoomProducer>();
  /** The publisher router (if any) is always entries[0]. */
  #entries: RouterEntry[] = [];
  #lock: Promise<unknown> = Promise.resolve();
  #statusTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    readonly id: string,
    pool: WorkerPool,
    options: RoomOptions,
    logger: Logger,
  ) {
    super();
    this.#pool = pool;
    this.#options = options;
    this.#log = logger.child({ room: id });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get peerCount(): number {
    return this.#peers.size;
  }

  get viewerCount(): number {
    let n = 0;
    for (const peer of this.#peers.values()) if (peer.role === 'viewer') n++;
    return n;
  }

  get live(): boolean {
    return this.#producers.size > 0;
  }

  get publisher(): Peer | undefined {
    for (const peer of this.#peers.values()) if (peer.role === 'publisher') return peer;
    return undefined;
  }

  summary(): RoomSummary {
    return {
      id: this.id,
      live: this.live,
      viewers: this.viewerCount,
      workers: [...new Set(this.#entries.map((e) => e.workerIndex))].sort((a, b) => a - b),
      routers: this.#entries.length,
      createdAt: this.createdAt.toISOString(),
    };
  }

  producerInfos(): ProducerInfo[] {
    return [...this.#producers.entries()].map(([producerId, p]) => ({ producerId, kind: p.kind, ...(p.source ? { source: p.source } : {}) }));
  }

  /** Where viewers are, per router (tests and the operator API read this). */
  routerLayout(): Array<{ routerId: string; workerIndex: number; publisher: boolean; viewers: number }> {
    return this.#entries.map((entry) => ({
      routerId: entry.id,
      workerIndex: entry.workerIndex,
      publisher: entry.isPublisherRouter,
      viewers: [...this.#peers.values()].filter((p) => p.role === 'viewer' && p.routerEntry === entry).length,
    }));
  }

  /** The router holding the publisher's producers, and those producers (for the recorder). */
  publisherMedia(): { router: ms.Router; audio: ms.Producer | undefined; video: ms.Producer | undefined } | undefined {
    const entry = this.#entries[0];
    if (!entry?.isPublisherRouter || entry.router.closed) return undefined;
    const pick = (kind: MediaKind) => [...this.#producers.values()].find((p) => p.kind === kind && !p.producer.closed)?.producer;
    return { router: entry.router, audio: pick('audio'), video: pick('video') };
  }

  /** Read-only view for the stats sampler: the publisher's producers and each viewer's consumers. */
  mediaSnapshot(): { producers: Array<{ producer: ms.Producer; kind: MediaKind; source: string | undefined }>; viewers: ms.Consumer[][] } {
    const viewers: ms.Consumer[][] = [];
    for (const peer of this.#peers.values()) if (peer.role === 'viewer') viewers.push([...peer.consumers.values()]);
    return { producers: [...this.#producers.values()], viewers };
  }

  newPeerId(): string {
    return randomUUID();
  }

  async join(peer: Peer): Promise<ResponseData['join']> {
    this.#assertOpen();
    if (peer.role === 'viewer' && this.#options.maxWebRtcViewers > 0 && this.viewerCount >= this.#options.maxWebRtcViewers) {
      throw new SignalingError('ROOM_FULL', `room "${this.id}" has reached its WebRTC viewer limit (${this.#options.maxWebRtcViewers})`);
    }
    if (peer.role === 'publisher') {
      // One broadcaster per room: a new authorized publisher takes over (this
      // is also how a publisher whose old connection has not timed out yet
      // comes back).
      const previous = this.publisher;
      if (previous) this.#evict(previous, { kind: 'kicked', reason: 'another publisher connection took over this room' });
    }
    const entry = await this.#withLock(() => (peer.role === 'publisher' ? this.#ensurePublisherRouter() : this.#reserveViewerRouter()));
    if (this.#closed || peer.closed) {
      if (peer.role === 'viewer') this.#release(entry);
      throw new SignalingError('UNAVAILABLE', 'room closed while joining');
    }
    peer.routerEntry = entry;
    this.#peers.set(peer.id, peer);
    this.#log.info({ peer: peer.id, role: peer.role, worker: entry.workerIndex, router: entry.id }, 'peer joined');
    this.#scheduleStatus();
    this.emit('peerJoined', peer);
    this.emit('changed');
    return {
      peerId: peer.id,
      room: this.id,
      role: peer.role,
      routerRtpCapabilities: entry.router.rtpCapabilities,
      producers: this.producerInfos(),
      viewers: this.viewerCount,
    };
  }

  routerRtpCapabilities(peer: Peer): ms.RtpCapabilities {
    return this.#entryOf(peer).router.rtpCapabilities;
  }

  async createTransport(peer: Peer, direction: 'send' | 'recv'): Promise<TransportInfo> {
    const entry = this.#entryOf(peer);
    if (direction === 'send' && peer.role !== 'publisher') throw new SignalingError('FORBIDDEN', 'only a publisher can create a send transport');
    if (direction === 'recv' && peer.role !== 'viewer') throw new SignalingError('FORBIDDEN', 'a publisher does not receive media');
    if ([...peer.transports.values()].some((t) => t.appData['direction'] === direction) || peer.transports.size >= peerLimits.transports) {
      throw new SignalingError('LIMIT_REACHED', `a ${direction} transport already exists for this peer`);
    }
    const transport = await entry.router.createWebRtcTransport({
      webRtcServer: this.#pool.webRtcServer(entry.workerIndex),
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      initialAvailableOutgoingBitrate: 1_500_000,
      appData: { peerId: peer.id, direction },
    });
    if (peer.closed || this.#closed) {
      transport.close();
      throw new SignalingError('NOT_JOINED', 'left the room while the transport was being created');
    }
    peer.transports.set(transport.id, transport);
    transport.observer.once('close', () => peer.transports.delete(transport.id));
    if (direction === 'send') await transport.setMaxIncomingBitrate(8_000_000).catch(() => undefined);
    transport.on('dtlsstatechange', (state) => {
      if (state === 'failed') this.#log.warn({ peer: peer.id, transport: transport.id }, 'DTLS failed');
    });
    // A send transport is connected right away by its client; a recv
    // transport only once something is consumed (a viewer may wait a long
    // time for the broadcaster), so its clock starts at the first consume.
    if (direction === 'send') this.#armConnectTimeout(peer, transport);
    return {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
    };
  }

  async connectTransport(peer: Peer, { transportId, dtlsParameters }: RequestPayload<'connectTransport'>): Promise<void> {
    const transport = this.#transportOf(peer, transportId);
    try {
      await transport.connect({ dtlsParameters: dtlsParameters as ms.DtlsParameters });
    } catch (error) {
      throw new SignalingError('BAD_REQUEST', `cannot connect transport: ${(error as Error).message}`);
    }
  }

  async restartIce(peer: Peer, transportId: string): Promise<{ iceParameters: ms.IceParameters }> {
    const transport = this.#transportOf(peer, transportId);
    return { iceParameters: await transport.restartIce() };
  }

  async produce(peer: Peer, request: RequestPayload<'produce'>): Promise<string> {
    if (peer.role !== 'publisher') throw new SignalingError('FORBIDDEN', 'viewers cannot produce');
    const transport = this.#transportOf(peer, request.transportId);
    if (transport.appData['direction'] !== 'send') throw new SignalingError('BAD_REQUEST', 'produce needs a send transport');
    const sameKind = [...peer.producers.values()].filter((p) => p.kind === request.kind).length;
    if (sameKind >= peerLimits.producersPerKind) {
      throw new SignalingError('LIMIT_REACHED', `at most ${peerLimits.producersPerKind} ${request.kind} producers per publisher`);
    }
    let producer: ms.Producer;
    try {
      producer = await transport.produce({
        kind: request.kind,
        rtpParameters: request.rtpParameters as unknown as ms.RtpParameters,
        // Every joining viewer asks the publisher for a keyframe; browsers drop a request
        // < 300 ms after the previous one, so requests are paced instead of lost.
        ...(request.kind === 'video' ? { keyFrameRequestDelay: this.#options.keyFrameRequestDelayMs ?? 0 } : {}),
        appData: { peerId: peer.id, source: request.source },
      });
    } catch (error) {
      throw new SignalingError('BAD_REQUEST', `cannot produce: ${(error as Error).message}`);
    }
    if (peer.closed || this.#closed) {
      producer.close();
      throw new SignalingError('NOT_JOINED', 'left the room while producing');
    }
    peer.producers.set(producer.id, producer);
    this.#producers.set(producer.id, { producer, kind: request.kind, source: request.source });
    const publisherEntry = this.#entryOf(peer);
    publisherEntry.localProducerIds.set(producer.id, Promise.resolve(producer.id));
    for (const entry of this.#entries) if (entry !== publisherEntry) this.#pipe(producer.id, entry);
    producer.observer.once('close', () => this.#onProducerClosed(peer, producer.id));
    this.#log.info({ producer: producer.id, kind: request.kind, source: request.source, encodings: request.rtpParameters.encodings?.length }, 'producing');
    const info: ProducerInfo = { producerId: producer.id, kind: request.kind, ...(request.source ? { source: request.source } : {}) };
    for (const other of this.#peers.values()) if (other.role === 'viewer') other.notify('newProducer', info);
    this.#scheduleStatus();
    this.emit('changed');
    this.emit('producersChanged');
    return producer.id;
  }

  async setProducerPaused(peer: Peer, producerId: string, paused: boolean): Promise<void> {
    const producer = peer.producers.get(producerId);
    if (!producer) throw new SignalingError('NOT_FOUND', `no producer ${producerId}`);
    if (paused) await producer.pause();
    else await producer.resume();
  }

  closeProducer(peer: Peer, producerId: string): void {
    const producer = peer.producers.get(producerId);
    if (!producer) throw new SignalingError('NOT_FOUND', `no producer ${producerId}`);
    producer.close();
  }

  async consume(peer: Peer, { producerId, rtpCapabilities }: RequestPayload<'consume'>): Promise<ResponseData['consume']> {
    if (peer.role !== 'viewer') throw new SignalingError('FORBIDDEN', 'only viewers consume');
    const entry = this.#entryOf(peer);
    const transport = [...peer.transports.values()].find((t) => t.appData['direction'] === 'recv');
    if (!transport) throw new SignalingError('NOT_FOUND', 'create a recv transport before consuming');
    const source = this.#producers.get(producerId);
    if (!source) throw new SignalingError('NOT_FOUND', `no producer ${producerId} in this room`);
    if (peer.consumerForProducer(producerId)) throw new SignalingError('LIMIT_REACHED', `already consuming producer ${producerId}`);
    let localProducerId: string;
    try {
      localProducerId = await (entry.localProducerIds.get(producerId) ?? this.#pipe(producerId, entry));
    } catch {
      throw new SignalingError('NOT_FOUND', `producer ${producerId} is not available on this router`);
    }
    let canConsume = false;
    try {
      canConsume = entry.router.canConsume({ producerId: localProducerId, rtpCapabilities: rtpCapabilities as ms.RtpCapabilities });
    } catch {
      canConsume = false;
    }
    if (!canConsume) throw new SignalingError('CANNOT_CONSUME', 'these RTP capabilities cannot receive this producer');
    let consumer: ms.Consumer;
    try {
      consumer = await transport.consume({
        producerId: localProducerId,
        rtpCapabilities: rtpCapabilities as ms.RtpCapabilities,
        paused: true, // resumed by the client once its track is wired up
        appData: { peerId: peer.id, sourceProducerId: producerId },
      });
    } catch (error) {
      throw new SignalingError('CANNOT_CONSUME', `cannot consume: ${(error as Error).message}`);
    }
    if (peer.closed || this.#closed) {
      consumer.close();
      throw new SignalingError('NOT_JOINED', 'left the room while consuming');
    }
    if (peer.consumers.size === 0) this.#armConnectTimeout(peer, transport);
    peer.consumers.set(consumer.id, consumer);
    const forget = () => peer.consumers.delete(consumer.id);
    consumer.observer.once('close', forget);
    consumer.on('producerclose', () => {
      forget();
      peer.notify('consumerClosed', { consumerId: consumer.id, producerId });
    });
    consumer.on('producerpause', () => peer.notify('consumerPaused', { consumerId: consumer.id }));
    consumer.on('producerresume', () => peer.notify('consumerResumed', { consumerId: consumer.id }));
    consumer.on('layerschange', (layers) =>
      peer.notify('consumerLayersChanged', {
        consumerId: consumer.id,
        spatialLayer: layers?.spatialLayer ?? null,
        temporalLayer: layers?.temporalLayer ?? null,
      }),
    );
    return {
      consumerId: consumer.id,
      producerId,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
      producerPaused: consumer.producerPaused,
    };
  }

  async setConsumerPaused(peer: Peer, consumerId: string, paused: boolean): Promise<void> {
    const consumer = this.#consumerOf(peer, consumerId);
    if (paused) await consumer.pause();
    else {
      await consumer.resume();
      // A keyframe right away so the viewer's first frame doesn't wait a GOP.
      if (consumer.kind === 'video') await consumer.requestKeyFrame().catch(() => undefined);
    }
  }

  async setPreferredLayers(peer: Peer, { consumerId, spatialLayer, temporalLayer }: RequestPayload<'setPreferredLayers'>): Promise<void> {
    const consumer = this.#consumerOf(peer, consumerId);
    if (consumer.type !== 'simulcast' && consumer.type !== 'svc') {
      throw new SignalingError('BAD_REQUEST', 'preferred layers apply to simulcast or SVC consumers only');
    }
    await consumer.setPreferredLayers({ spatialLayer, ...(temporalLayer !== undefined ? { temporalLayer } : {}) });
  }

  /** The peer leaves on its own (leave request or disconnect). Idempotent. */
  leave(peer: Peer): void {
    if (!this.#peers.has(peer.id)) {
      peer.close();
      return;
    }
    this.#remove(peer);
  }

  /** Workers died: drop the media that lived on them and send affected clients to rejoin. */
  handleWorkerDied(workerIndex: number): void {
    if (this.#closed) return;
    const affected = this.#entries.filter((e) => e.workerIndex === workerIndex);
    if (affected.length === 0) return;
    const publisherLost = affected.some((e) => e.isPublisherRouter);
    const reason = `media worker ${workerIndex} failed`;
    this.#log.warn({ worker: workerIndex, publisherLost }, 'rebuilding room after worker death');
    for (const peer of [...this.#peers.values()]) {
      // When the publisher's router is gone, every viewer lost its media.
      if (publisherLost || (peer.routerEntry && affected.includes(peer.routerEntry))) {
        this.#evict(peer, { kind: 'reconnect', reason });
      }
    }
    const doomed = publisherLost ? this.#entries : affected;
    for (const entry of doomed) entry.close();
    this.#entries = this.#entries.filter((e) => !doomed.includes(e));
    this.emit('changed');
  }

  /** Closes the room: everyone is told and all routers close. Idempotent. */
  close(reason = 'room closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const peer of [...this.#peers.values()]) this.#evict(peer, { kind: 'roomClosed', reason });
    for (const entry of this.#entries) entry.close();
    this.#entries = [];
    if (this.#statusTimer) clearTimeout(this.#statusTimer);
    this.#log.info({ reason }, 'room closed');
    this.emit('closed');
    this.removeAllListeners();
  }

  /** A transport that doesn't complete DTLS in time is closed instead of lingering. */
  #armConnectTimeout(peer: Peer, transport: ms.WebRtcTransport): void {
    if (transport.dtlsState === 'connected') return;
    const timer = setTimeout(() => {
      if (!transport.closed && transport.dtlsState !== 'connected') {
        this.#log.warn({ peer: peer.id, transport: transport.id }, 'transport not connected in time; closing it');
        transport.close();
      }
    }, peerLimits.transportConnectTimeoutMs);
    timer.unref();
    transport.observer.once('close', () => clearTimeout(timer));
    transport.on('dtlsstatechange', (state) => {
      if (state === 'connected') clearTimeout(timer);
    });
  }

  #evict(peer: Peer, reason: EvictionReason): void {
    this.#remove(peer);
    peer.onEvicted(reason);
  }

  #remove(peer: Peer): void {
    this.#peers.delete(peer.id);
    peer.close();
    if (peer.role === 'viewer' && peer.routerEntry) this.#release(peer.routerEntry);
    peer.routerEntry = undefined;
    this.#log.info({ peer: peer.id, role: peer.role }, 'peer left');
    this.#scheduleStatus();
    this.emit('peerLeft', peer);
    this.emit('changed');
    if (this.#peers.size === 0) this.emit('empty');
  }

  #release(entry: RouterEntry): void {
    entry.reserved = Math.max(0, entry.reserved - SLOTS_PER_VIEWER);
    // Consumer routers exist only for their viewers; close them when empty so
    // the pipe transports feeding them go too.
    if (entry.reserved === 0 && !entry.isPublisherRouter && this.#entries.includes(entry)) {
      this.#entries = this.#entries.filter((e) => e !== entry);
      entry.close();
    }
  }

  async #ensurePublisherRouter(): Promise<RouterEntry> {
    const existing = this.#entries[0];
    if (existing?.isPublisherRouter) return existing;
    const workerIndex = this.#pool.leastLoadedWorker();
    if (workerIndex === undefined) throw new SignalingError('UNAVAILABLE', 'no media worker is available');
    const router = await this.#pool.createRouter(workerIndex, { room: this.id, role: 'publisher' });
    const entry = new RouterEntry(router, workerIndex, true);
    this.#entries.unshift(entry);
    return entry;
  }

  async #reserveViewerRouter(): Promise<RouterEntry> {
    await this.#ensurePublisherRouter();
    const decision = placeViewer(
      this.#entries.map((e) => ({ id: e.id, workerIndex: e.workerIndex, reserved: e.reserved })),
      SLOTS_PER_VIEWER,
      this.#options.maxConsumersPerRouter,
    );
    let entry = decision.kind === 'existing' ? this.#entries.find((e) => e.id === decision.routerId) : undefined;
    if (!entry) {
      const used = this.#entries.map((e) => e.workerIndex);
      const workerIndex = this.#pool.leastLoadedWorker(used);
      if (workerIndex === undefined) throw new SignalingError('UNAVAILABLE', 'no media worker is available');
      const router = await this.#pool.createRouter(workerIndex, { room: this.id, role: 'consumer' });
      entry = new RouterEntry(router, workerIndex, false);
      this.#entries.push(entry);
      for (const producerId of this.#producers.keys()) this.#pipe(producerId, entry);
      this.#log.info({ worker: workerIndex, router: router.id, routers: this.#entries.length }, 'opened consumer router');
    }
    entry.reserved += SLOTS_PER_VIEWER;
    return entry;
  }

  /** Pipes a publisher producer into `entry`'s router; resolves to its id there. */
  #pipe(producerId: string, entry: RouterEntry): Promise<string> {
    const publisherEntry = this.#entries[0];
    const piped = (async () => {
      if (!publisherEntry?.isPublisherRouter) throw new Error('no publisher router');
      const { pipeProducer } = await publisherEntry.router.pipeToRouter({
        producerId,
        router: entry.router,
        // Fresh ids always: a worker can't hold two producers with one id, and
        // a room may have several consumer routers on one worker. The entry
        // maps the publisher's id to the local one.
        keepId: false,
        enableSctp: false,
        listenInfo: this.#pool.pipeListenInfo(),
      });
      if (!pipeProducer) throw new Error('pipeToRouter returned no producer');
      pipeProducer.observer.once('close', () => entry.localProducerIds.delete(producerId));
      return pipeProducer.id;
    })();
    piped.catch((error: Error) => {
      entry.localProducerIds.delete(producerId);
      if (!entry.router.closed) this.#log.error({ producer: producerId, router: entry.id, err: error.message }, 'pipeToRouter failed');
    });
    entry.localProducerIds.set(producerId, piped);
    return piped;
  }

  #onProducerClosed(peer: Peer, producerId: string): void {
    peer.producers.delete(producerId);
    if (!this.#producers.delete(producerId)) return;
    for (const entry of this.#entries) entry.localProducerIds.delete(producerId);
    for (const other of this.#peers.values()) if (other.role === 'viewer') other.notify('producerClosed', { producerId });
    this.#scheduleStatus();
    this.emit('changed');
    this.emit('producersChanged');
  }

  #entryOf(peer: Peer): RouterEntry {
    const entry = peer.routerEntry;
    if (!entry || !this.#peers.has(peer.id)) throw new SignalingError('NOT_JOINED', 'join a room first');
    if (entry.router.closed) throw new SignalingError('UNAVAILABLE', 'media router is gone; rejoin');
    return entry;
  }

  #transportOf(peer: Peer, transportId: string): ms.WebRtcTransport {
    this.#entryOf(peer);
    const transport = peer.transports.get(transportId);
    if (!transport) throw new SignalingError('NOT_FOUND', `no transport ${transportId}`);
    return transport;
  }

  #consumerOf(peer: Peer, consumerId: string): ms.Consumer {
    this.#entryOf(peer);
    const consumer = peer.consumers.get(consumerId);
    if (!consumer) throw new SignalingError('NOT_FOUND', `no consumer ${consumerId}`);
    return consumer;
  }

  #assertOpen(): void {
    if (this.#closed) throw new SignalingError('UNAVAILABLE', `room "${this.id}" is closed`);
  }

  /** Serializes router placement so concurrent joins don't overfill a router. */
  #withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  #scheduleStatus(): void {
    if (this.#statusTimer || this.#closed) return;
    // Throttled: a burst of joins produces one audience update.
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      const status = { viewers: this.viewerCount, live: this.live };
      for (const peer of this.#peers.values()) peer.notify('roomStatus', status);
    }, 250);
    this.#statusTimer.unref();
  }
}
