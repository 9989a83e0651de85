/**
 * The origin side of cascading: serves the pipe requests of edge nodes on the
 * message bus. One pipe (a PipeTransport on the room's program router, and
 * one pipe consumer per program track) per edge node and room, whatever that
 * edge's audience: an edge that opens again replaces its previous pipe.
 *
 * A pipe lives while its edge syncs it; one not synced for PIPE_IDLE_MS (the
 * edge died) is closed here — unless this node cannot reach the cluster state
 * either: then silence proves nothing, and media may still flow on the pipe. Requests for a room this node is
 * not the origin of, or with another epoch, are refused with a PipeError.
 *
 * The origin's side of a new pipe is connected (media starts) at the edge's
 * first sync, which the edge sends once it produces every track of the open
 * answer: what a pipe consumer sent before would reach an edge transport
 * without a producer for its SSRC and be dropped — the first key frame above
 * all (the worker starts pipe consumers from its key frame cache when their
 * transport connects), leaving the edge's first viewer to wait for the
 * sender's next key frame (+0.6 s in the cluster-join bench). Tracks added to
 * a running pipe start at once, before the edge produces them: their first
 * frames may be lost, and the edge's viewers ask for a key frame.
 *
 * Operators see the pipes (`cluster.pipes` on the bus, for /api/cluster, and
 * the pipe metrics): each pipe's per-track figures are read from its pipe
 * consumers at every sync, so they are at most a sync period old.
 */
import { randomUUID } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../../observability/logger.js';
import type { MessageBus } from '../../cluster/messageBus.js';
import { CLUSTER_PIPES_METHOD, type ClusterPipeTrackView, type ClusterPipesAnswer } from '../../contracts/clusterApi.js';
import {
  PIPE_IDLE_MS,
  PIPE_METHODS,
  PipeError,
  parsePipeMessage,
  pipeCloseRequestSchema,
  pipeOpenRequestSchema,
  pipeSyncRequestSchema,
  type PipeEndpoint,
  type PipeOpenAnswer,
  type PipeSyncAnswer,
  type PipedTrackDescription,
} from '../../contracts/pipeProtocol.js';
import { openRemotePipeTransport } from './remotePipeTransport.js';

/** What a pipe carries from a room: its program router and current tracks. */
export interface OriginProgram {
  router: ms.Router;
  tracks(): ReadonlyArray<{ id: string; kind: ms.MediaKind; label: string | undefined; producer: ms.Producer }>;
}

export interface PipeOriginOptions {
  bus: MessageBus;
  listenInfo: ms.TransportListenInfo;
  /** The program of a room this node is the origin of at `epoch`; throws a PipeError otherwise. */
  program(room: string, epoch: number): OriginProgram;
  /** Reads the edge's node record; rejects when the cluster state is out of reach. */
  edgeRecord(node: string): Promise<unknown>;
  logger: Logger;
  idleMs?: number;
}

/** One edge's pipe, as the operator API, the metrics and tests see it. */
export interface OriginPipeInfo {
  id: string;
  room: string;
  epoch: number;
  edge: string;
  consumers: number;
  /** Per program track, as of the last sync. */
  tracks: ClusterPipeTrackView[];
  /** Bytes the pipe transport sent / received (RTCP from the edge), as of the last sync. */
  bytesSent: number;
  bytesReceived: number;
}

interface OriginPipe {
  id: string;
  room: string;
  epoch: number;
  edge: string;
  transport: ms.PipeTransport;
  /** Program track id → its pipe consumer. */
  consumers: Map<string, ms.Consumer>;
  lastSync: number;
  /** Where the edge listens, until the origin's side connects to it (the edge's first sync). */
  edgeEndpoint: PipeEndpoint | undefined;
  /** Figures read at the last sync (see #readStats). */
  stats: { tracks: ClusterPipeTrackView[]; bytesSent: number; bytesReceived: number };
}

export class PipeOrigin {
  readonly #options: PipeOriginOptions;
  readonly #log: Logger;
  readonly #pipes = new Map<string, OriginPipe>();
  readonly #unhandle: Array<() => void>;
  readonly #reaper: NodeJS.Timeout;
  #closed = false;

  constructor(options: PipeOriginOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'pipe-origin' });
    const { bus } = options;
    this.#unhandle = [
      bus.handle(PIPE_METHODS.open, (payload, from) => this.#open(payload, from)),
      bus.handle(PIPE_METHODS.sync, (payload, from) => this.#sync(payload, from)),
      bus.handle(PIPE_METHODS.close, (payload, from) => this.#close(payload, from)),
      bus.handle(CLUSTER_PIPES_METHOD, () => Promise.resolve(this.#report())),
    ];
    const idleMs = options.idleMs ?? PIPE_IDLE_MS;
    this.#reaper = setInterval(
      () => {
        for (const pipe of this.#pipes.values()) if (Date.now() - pipe.lastSync > idleMs) void this.#reapIdle(pipe);
      },
      Math.min(1_000, idleMs),
    );
    this.#reaper.unref();
  }

  /** Every pipe this node serves as an origin. */
  pipes(): OriginPipeInfo[] {
    return [...this.#pipes.values()].map((p) => ({ id: p.id, room: p.room, epoch: p.epoch, edge: p.edge, consumers: p.consumers.size, ...p.stats }));
  }

  /** Closes every pipe and stops serving. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#reaper);
    for (const unhandle of this.#unhandle) unhandle();
    for (const pipe of [...this.#pipes.values()]) this.#drop(pipe, 'node closing');
  }

  async #open(payload: unknown, edge: string): Promise<PipeOpenAnswer> {
    const request = parsePipeMessage(pipeOpenRequestSchema, payload, 'pipe.open');
    const program = this.#options.program(request.room, request.epoch);
    // One pipe per edge and room: a new one replaces what that edge had.
    for (const pipe of [...this.#pipes.values()]) if (pipe.edge === edge && pipe.room === request.room) this.#drop(pipe, 'the edge opened a new pipe');
    const { transport, endpoint } = await openRemotePipeTransport(program.router, this.#options.listenInfo);
    const pipe: OriginPipe = {
      id: randomUUID(),
      room: request.room,
      epoch: request.epoch,
      edge,
      transport,
      consumers: new Map(),
      lastSync: Date.now(),
      edgeEndpoint: request.edge,
      stats: { tracks: [], bytesSent: 0, bytesReceived: 0 },
    };
    try {
      const tracks = await this.#consumeProgram(pipe, program);
      if (this.#closed) throw new PipeError('unknown-room', 'this node is closing');
      this.#pipes.set(pipe.id, pipe);
      transport.observer.once('close', () => this.#pipes.delete(pipe.id));
      this.#log.info({ room: pipe.room, edge, pipe: pipe.id, tracks: tracks.length }, 'pipe opened to an edge');
      return { pipeId: pipe.id, origin: endpoint, tracks };
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  async #sync(payload: unknown, edge: string): Promise<PipeSyncAnswer> {
    const request = parsePipeMessage(pipeSyncRequestSchema, payload, 'pipe.sync');
    const pipe = this.#pipeOf(request.pipeId, edge);
    pipe.lastSync = Date.now();
    let program: OriginProgram;
    try {
      program = this.#options.program(request.room, request.epoch);
    } catch (error) {
      this.#drop(pipe, (error as Error).message);
      throw error;
    }
    if (pipe.room !== request.room || pipe.epoch !== request.epoch) throw new PipeError('unknown-pipe', `pipe ${pipe.id} belongs to another room or epoch`);
    // The edge produces every track of the open answer before its first sync: media may flow now.
    if (pipe.edgeEndpoint) {
      const endpoint = pipe.edgeEndpoint;
      pipe.edgeEndpoint = undefined;
      try {
        await pipe.transport.connect(endpoint);
      } catch (error) {
        this.#drop(pipe, `cannot connect to the edge: ${(error as Error).message}`);
        throw new PipeError('bad-request', `cannot connect to the edge's pipe at ${endpoint.ip}:${endpoint.port}`);
      }
    }
    const tracks = await this.#consumeProgram(pipe, program);
    void this.#readStats(pipe, program);
    return { tracks };
  }

  /** What `cluster.pipes` answers: this node's pipes as an origin. */
  #report(): ClusterPipesAnswer {
    const origin = this.#options.bus.nodeId;
    return { pipes: [...this.#pipes.values()].map((p) => ({ id: p.id, room: p.room, origin, edge: p.edge, epoch: p.epoch, tracks: p.stats.tracks })) };
  }

  /** Refreshes a pipe's figures from its consumers and transport; a pipe closing meanwhile keeps the last ones. */
  async #readStats(pipe: OriginPipe, program: OriginProgram): Promise<void> {
    const kinds = new Map(program.tracks().map((t) => [t.id, t.kind]));
    try {
      const [transportStats, ...consumerStats] = await Promise.all([
        pipe.transport.getStats(),
        ...[...pipe.consumers].map(async ([id, consumer]) => ({ id, consumer, stats: await consumer.getStats() })),
      ]);
      const tracks = consumerStats.map(({ id, consumer, stats }): ClusterPipeTrackView => {
        // One outbound stream per simulcast layer: a pipe carries them all.
        const sent = stats.filter((s) => s.type === 'outbound-rtp');
        const bitrateBps = Math.round(sent.reduce((sum, s) => sum + s.bitrate, 0));
        const paused = consumer.paused || consumer.producerPaused;
        return {
          id,
          kind: kinds.get(id) ?? consumer.kind,
          state: paused ? 'paused' : bitrateBps > 0 ? 'flowing' : 'idle',
          bitrateBps,
          packets: sent.reduce((sum, s) => sum + s.packetCount, 0),
          bytes: sent.reduce((sum, s) => sum + s.byteCount, 0),
        };
      });
      const transport = transportStats[0];
      pipe.stats = { tracks, bytesSent: transport?.bytesSent ?? 0, bytesReceived: transport?.bytesReceived ?? 0 };
    } catch {
      // The transport or a consumer closed while being read: the pipe is going away.
    }
  }

  async #close(payload: unknown, edge: string): Promise<Record<string, never>> {
    const request = parsePipeMessage(pipeCloseRequestSchema, payload, 'pipe.close');
    const pipe = this.#pipes.get(request.pipeId);
    if (pipe?.edge === edge) this.#drop(pipe, 'the edge released it');
    return {};
  }

  /** Pipe consumers follow the program: its new tracks are consumed; describes its tracks. */
  async #consumeProgram(pipe: OriginPipe, program: OriginProgram): Promise<PipedTrackDescription[]> {
    const tracks = program.tracks().filter((t) => !t.producer.closed);
    // A consumer goes with its producer (mediasoup closes it). One whose track only left the
    // program stays: re-consuming it later on this transport would reuse its SSRC on a fresh
    // stream, which the edge's SRTP replay check refuses (mediasoup#435).
    for (const [id, consumer] of pipe.consumers) if (consumer.closed) pipe.consumers.delete(id);
    const described: PipedTrackDescription[] = [];
    for (const track of tracks) {
      let consumer = pipe.consumers.get(track.id);
      if (!consumer) {
        consumer = await pipe.transport.consume({ producerId: track.producer.id });
        pipe.consumers.set(track.id, consumer);
      }
      described.push({
        id: track.id,
        kind: track.kind,
        label: track.label ?? null,
        paused: consumer.producerPaused,
        rtpParameters: consumer.rtpParameters,
      });
    }
    return described;
  }

  async #reapIdle(pipe: OriginPipe): Promise<void> {
    try {
      await this.#options.edgeRecord(pipe.edge);
    } catch {
      // The cluster state is out of reach: the edge's syncs may be lost, not the edge. The
      // outage does not count as idle time: once Redis is back the edge gets a whole idle
      // window to sync again (without this, a pipe was dropped the moment Redis came back,
      // before its edge's next sync: 1.5 s without video for that edge's viewers in the redis drill).
      pipe.lastSync = Date.now();
      return;
    }
    if (Date.now() - pipe.lastSync > (this.#options.idleMs ?? PIPE_IDLE_MS)) this.#drop(pipe, 'its edge stopped syncing');
  }

  #pipeOf(pipeId: string, edge: string): OriginPipe {
    const pipe = this.#pipes.get(pipeId);
    if (!pipe || pipe.edge !== edge) throw new PipeError('unknown-pipe', `no pipe ${pipeId} for node ${edge}`);
    return pipe;
  }

  #drop(pipe: OriginPipe, why: string): void {
    if (!this.#pipes.delete(pipe.id)) return;
    pipe.transport.close();
    this.#log.info({ room: pipe.room, edge: pipe.edge, pipe: pipe.id, why }, 'pipe to an edge closed');
  }
}
