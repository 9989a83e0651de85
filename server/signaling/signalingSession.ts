/**
 * One socket.io connection. Every message goes through one gate: rate limit →
 * known name → ack present → one payload → size → zod schema → order
 * (NOT_JOINED) → authorization → handler, and is always answered through the
 * ack. Requests of one connection run one at a time, in arrival order.
 *
 * The session is the only place that speaks both languages: it drives the
 * room in domain terms and maps errors and notices to the wire contract.
 */
import type { Socket } from 'socket.io';
import {
  protocolLimits,
  requestSchemas,
  type Ack,
  type ErrorCode,
  type ProducerInfo,
  type RequestName,
  type RequestPayload,
  type ResponseData,
  type Role,
} from '../contracts/signaling.js';
import type { Room } from '../rooms/room.js';
import type { Eviction, ParticipantLink, RoomNotice, TrackInfo } from '../rooms/roomNotices.js';
import type { WebRtcPublisherSource } from '../sources/webrtcPublisherSource.js';
import type { WebRtcViewer } from '../viewers/webrtcViewer.js';
import { codecName, requiredVideoCodec } from '../ingest/programCodec.js';
import { RateLimiter } from './rateLimiter.js';
import { SignalingError, wireError, wireEvent } from './wireMapping.js';
import type { SignalingContext } from './signalingServer.js';
import type { DrainableMember } from '../cluster/placement/nodeDrain.js';
import type { PlacementRequest } from '../cluster/placement/selectors.js';
import type { ServerEvents } from '../contracts/serverEvents.js';

type Handler<N extends RequestName> = (payload: RequestPayload<N>) => Promise<ResponseData[N]>;

/** What this connection is in its room: a publisher's source or a viewer. */
type Membership = { room: Room; role: 'publisher'; source: WebRtcPublisherSource } | { room: Room; role: 'viewer'; viewer: WebRtcViewer };

/**
 * Backup ingest keeps one video codec per room (programCodec.ts): a browser
 * publisher taking a slot while an encoder of another codec holds the other
 * one is told which codec to send, before anything is allocated.
 */
function assertRoomVideoCodec(room: Room, slot: WebRtcPublisherSource['slot'], mimeType: string | undefined): void {
  const required = requiredVideoCodec(room, slot);
  if (!required || !mimeType || required.mimeType.toLowerCase() === mimeType.toLowerCase()) return;
  const wanted = codecName(required.mimeType);
  throw new SignalingError(
    'CODEC_MISMATCH',
    `the room's video is ${wanted}, from ${required.from}; this publisher sends ${codecName(mimeType)}: send ${wanted}`,
  );
}

const producerInfo = (track: TrackInfo): ProducerInfo => ({ producerId: track.trackId, kind: track.kind, ...(track.label ? { source: track.label } : {}) });

export class SignalingSession implements DrainableMember {
  readonly #socket: Socket;
  readonly #context: SignalingContext;
  readonly #limiter = new RateLimiter(protocolLimits.messagesPerSecond, protocolLimits.messageBurst);
  #membership: Membership | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(socket: Socket, context: SignalingContext) {
    this.#socket = socket;
    this.#context = context;
    socket.onAny((event: unknown, ...args: unknown[]) => {
      this.#onMessage(event, args);
    });
  }

  /** What this connection joined; undefined while it is not joined. */
  get request(): PlacementRequest | undefined {
    const member = this.#membership;
    return member ? { room: member.room.id, role: member.role } : undefined;
  }

  /** Tells the client to move to another node (this one is draining). */
  move(target: ServerEvents['move']): void {
    if (this.#membership && !this.#closed) this.#socket.emit('move', target);
  }

  /** The connection went away: leave the room. Idempotent. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#leave();
    this.#context.log.debug({ socket: this.#socket.id, reason }, 'connection closed');
  }

  #onMessage(event: unknown, args: unknown[]): void {
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (response: Ack<unknown>) => void) : undefined;
    const reply = (response: Ack<unknown>): void => {
      if (!response.ok) this.#context.countError(response.error.code);
      ack?.(response);
    };
    const fail = (code: ErrorCode, message: string): void => {
      reply({ ok: false, error: { code, message } });
    };

    if (!this.#limiter.tryTake()) {
      fail('RATE_LIMITED', 'too many messages; slow down');

      return;
    }
    if (typeof event !== 'string' || !Object.hasOwn(requestSchemas, event)) {
      fail('UNKNOWN_MESSAGE', `unknown message "${String(event).slice(0, 64)}"`);
      return;
    }
    if (!ack) {
      // Requests without an ack can't be answered: drop them, but count it.
      this.#context.countError('BAD_REQUEST');
      return;
    }
    if (args.length > 1) {
      fail('BAD_REQUEST', 'send exactly one payload object');
      return;
    }
    const raw = args[0] ?? {};
    let size: number;
    try {
      size = Buffer.byteLength(JSON.stringify(raw));
    } catch {
      fail('BAD_REQUEST', 'payload is not JSON');
      return;
    }
    if (size > protocolLimits.maxPayloadBytes) {
      fail('PAYLOAD_TOO_LARGE', `payload is ${size} bytes; the limit is ${protocolLimits.maxPayloadBytes}`);
      return;
    }
    const name = event as RequestName;
    const parsed = requestSchemas[name].safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      fail('BAD_REQUEST', `invalid ${name}: ${where}${issue.message}`);
      return;
    }
    const run = async (): Promise<void> => {
      try {
        const handler = this.#handlers[name];
        reply({ ok: true, data: await handler(parsed.data as never) });
      } catch (error) {
        const known = wireError(error);
        if (known) {
          fail(known.code, known.message);
          return;
        }
        this.#context.log.error({ err: error, message: name, socket: this.#socket.id }, 'request failed');
        fail('INTERNAL', 'internal error');
      }
    };
    this.#queue = this.#queue.then(run, run);
  }

  readonly #handlers: { [K in RequestName]: Handler<K> } = {
    join: (p) => this.#join(p),
    getRouterRtpCapabilities: async () => {
      this.#member();
      return { routerRtpCapabilities: this.#context.routerRtpCapabilities() };
    },
    createTransport: async ({ direction }) => {
      const member = this.#member();
      if (direction === 'send') {
        if (member.role !== 'publisher') throw new SignalingError('FORBIDDEN', 'only a publisher can create a send transport');
        return member.source.createTransport();
      }
      if (member.role !== 'viewer') throw new SignalingError('FORBIDDEN', 'a publisher does not receive media');
      return member.room.openViewerTransport(member.viewer);
    },
    connectTransport: async ({ transportId, dtlsParameters }) => {
      const member = this.#member();
      const dtls = dtlsParameters;
      if (member.role === 'publisher') await member.source.connectTransport(transportId, dtls);
      else await member.viewer.connectTransport(transportId, dtls);
      return {};
    },
    restartIce: async ({ transportId }) => {
      const member = this.#member();
      const iceParameters = member.role === 'publisher' ? await member.source.restartIce(transportId) : await member.viewer.restartIce(transportId);
      return { iceParameters };
    },
    produce: async (p) => {
      const source = this.#publisher('viewers cannot produce');
      if (p.kind === 'video') assertRoomVideoCodec(this.#member().room, source.slot, p.rtpParameters.codecs[0]?.mimeType);
      const producerId = await source.produce({ kind: p.kind, rtpParameters: p.rtpParameters, label: p.source });
      return { producerId };
    },
    closeProducer: async ({ producerId }) => {
      this.#publisher(`no producer ${producerId}`, 'NOT_FOUND').closeTrack(producerId);
      return {};
    },
    pauseProducer: async ({ producerId }) => {
      await this.#publisher(`no producer ${producerId}`, 'NOT_FOUND').setTrackPaused(producerId, true);
      return {};
    },
    resumeProducer: async ({ producerId }) => {
      await this.#publisher(`no producer ${producerId}`, 'NOT_FOUND').setTrackPaused(producerId, false);
      return {};
    },
    consume: async ({ producerId, rtpCapabilities }) => {
      const { room, viewer } = this.#viewer('only viewers consume');
      const consumed = await room.consume(viewer, producerId, rtpCapabilities);
      const { trackId, ...rest } = consumed;
      return { ...rest, producerId: trackId };
    },
    resumeConsumer: async ({ consumerId }) => {
      await this.#viewer(`no consumer ${consumerId}`, 'NOT_FOUND').viewer.setConsumerPaused(consumerId, false);
      return {};
    },
    pauseConsumer: async ({ consumerId }) => {
      await this.#viewer(`no consumer ${consumerId}`, 'NOT_FOUND').viewer.setConsumerPaused(consumerId, true);
      return {};
    },
    setPreferredLayers: async ({ consumerId, spatialLayer, temporalLayer }) => {
      await this.#viewer(`no consumer ${consumerId}`, 'NOT_FOUND').viewer.setPreferredLayers(consumerId, spatialLayer, temporalLayer);
      return {};
    },
    leave: async () => {
      this.#member();
      this.#leave();
      return {};
    },
  };

  async #join({ room: roomId, role, token, region }: RequestPayload<'join'>): Promise<ResponseData['join']> {
    const context = this.#context;
    if (context.shuttingDown || this.#closed) throw new SignalingError('UNAVAILABLE', 'server is shutting down');
    if (this.#membership) throw new SignalingError('ALREADY_JOINED', `already in room "${this.#membership.room.id}"; leave first`);
    await context.authorize(roomId, role, token);
    const { decision, alternates } = await context.placeJoin({ room: roomId, role, region });
    if (decision.action === 'refuse') throw new SignalingError('UNAVAILABLE', decision.reason);
    if (decision.action === 'redirect') {
      const { node, alternates: others } = decision.placement;
      return { redirect: node.publicUrl, alternates: others.map((n) => n.publicUrl), reason: decision.reason };
    }
    if (this.#closed) throw new SignalingError('UNAVAILABLE', 'connection closed');
    // Idle-room quotas apply to viewers: an authorized publisher makes its room live at once.
    const opener = role === 'viewer' ? { address: this.#socket.handshake.address, connection: this.#socket.id } : undefined;
    const room = await context.rooms.open(roomId, opener);
    const { link, bind } = this.#link();
    let membership: Membership | undefined;
    try {
      membership = role === 'publisher' ? { room, role, source: await room.admitWebRtcPublisher(link) } : { room, role, viewer: room.admitViewer(link) };
      if (this.#closed) throw new SignalingError('UNAVAILABLE', 'connection closed while joining');
    } catch (error) {
      if (membership) this.#leaveMembership(membership);
      context.rooms.releaseIfEmpty(room);
      throw error;
    }
    this.#membership = membership;
    bind(membership);
    return {
      peerId: membership.role === 'publisher' ? membership.source.id : membership.viewer.id,
      room: room.id,
      role: role satisfies Role,
      routerRtpCapabilities: context.routerRtpCapabilities(),
      producers: room.trackInfos().map(producerInfo),
      viewers: room.viewerCount,
      alternates,
    };
  }

  /** How the room reaches this connection; silent once the membership it was made for is over. */
  #link(): { link: ParticipantLink; bind: (membership: Membership) => void } {
    let bound: Membership | undefined;
    const current = (): boolean => bound !== undefined && bound === this.#membership;
    return {
      bind: (membership) => {
        bound = membership;
      },
      link: {
        notify: (notice: RoomNotice) => {
          if (!current()) return;
          const [event, data] = wireEvent(notice);
          this.#socket.emit(event, data);
        },
        evicted: (eviction: Eviction) => {
          if (!current()) return;
          this.#membership = undefined;
          this.#socket.emit(eviction.kind, { reason: eviction.reason });
        },
      },
    };
  }

  #member(): Membership {
    if (!this.#membership) throw new SignalingError('NOT_JOINED', 'join a room first');
    return this.#membership;
  }

  #publisher(refusal: string, code: ErrorCode = 'FORBIDDEN'): WebRtcPublisherSource {
    const member = this.#member();
    if (member.role !== 'publisher') throw new SignalingError(code, refusal);
    return member.source;
  }

  #viewer(refusal: string, code: ErrorCode = 'FORBIDDEN'): { room: Room; viewer: WebRtcViewer } {
    const member = this.#member();
    if (member.role !== 'viewer') throw new SignalingError(code, refusal);
    return { room: member.room, viewer: member.viewer };
  }

  #leave(): void {
    const membership = this.#membership;
    this.#membership = undefined;
    if (membership) this.#leaveMembership(membership);
  }

  #leaveMembership(membership: Membership): void {
    if (membership.role === 'publisher') membership.room.removeSource(membership.source);
    else membership.room.removeViewer(membership.viewer);
  }
}
