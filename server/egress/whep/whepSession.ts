/**
 * One WHEP player: a viewer of the room (it counts in the audience, metrics
 * and stats like any WebRTC viewer), its recv transport and one consumer per
 * program track it asked for, described to the player in SDP.
 *
 * WHEP cannot renegotiate, so the session follows the program only as far as
 * SDP allows: a removed track's consumer closes (the player's track goes
 * silent); a new track of a kind the player asked for and does not receive
 * (a new publisher) ends the session with a reason, and the player
 * reconnects to get it. Key frames: consumers run from the start, and
 * mediasoup asks the source (the worker's key frame cache answers) as the
 * transport connects; this asks once more when DTLS is up.
 */
import { randomUUID } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../../observability/logger.js';
import type { WorkerPool } from '../../media/workerPool.js';
import type { Room } from '../../rooms/room.js';
import { RoomError } from '../../rooms/roomError.js';
import type { ParticipantLink, RoomNotice } from '../../rooms/roomNotices.js';
import type { WebRtcViewer } from '../../viewers/webrtcViewer.js';
import { SafeEmitter } from '../../lib/safeEmitter.js';
import { asText, readRemoteDescription } from '../../webrtc/sdp/remoteDescription.js';
import { buildIceRestartFragment, type TransportDescription } from '../../webrtc/sdp/sdpLines.js';
import { problems } from '../../webrtc/httpProblem.js';
import { consumeCapabilities, honours, WHEP_READ_OPTIONS, type WhepOfferPlan } from './whepOffer.js';
import { buildWhepDescription, type WhepSection } from './whepAnswer.js';

export type WhepEndReason = 'left' | 'not-connected' | 'disconnected' | 'program-changed' | 'evicted' | 'room-closed' | 'failed';

export interface WhepSessionOptions {
  room: Room;
  plan: WhepOfferPlan;
  pool: WorkerPool;
  /** ICE + DTLS must complete within this, or the session is closed. */
  connectTimeoutMs: number;
  logger: Logger;
}

/** What the player is sent first: an answer to its offer (201) or our counter-offer (406). */
export interface WhepOpening {
  status: 201 | 406;
  sdp: string;
}

type WhepSessionEvents = { ended: [reason: WhepEndReason] };

export class WhepSession extends SafeEmitter<WhepSessionEvents> {
  readonly id = randomUUID();
  readonly room: Room;
  readonly viewer: WebRtcViewer;
  readonly #log: Logger;
  readonly #plan: WhepOfferPlan;
  /** Consumer id → kind, for the consumers still open. */
  readonly #consuming = new Map<string, ms.MediaKind>();
  #transport: ms.WebRtcTransport | undefined;
  #description: (TransportDescription & { id: string }) | undefined;
  #sections: WhepSection[] = [];
  #awaitingAnswer = false;
  /** The player's current ICE ufrag (a PATCH with another one is a restart). */
  #remoteUfrag: string;
  #connected = false;
  #timer: NodeJS.Timeout | undefined;
  #ended = false;

  private constructor(options: WhepSessionOptions) {
    super();
    this.room = options.room;
    this.#plan = options.plan;
    this.#remoteUfrag = options.plan.remote.remoteIce.usernameFragment;
    this.#log = options.logger.child({ room: options.room.id, whep: this.id });
    const link: ParticipantLink = {
      notify: (notice) => this.#onNotice(notice),
      evicted: (eviction) => this.end(eviction.kind === 'roomClosed' ? 'room-closed' : 'evicted'),
    };
    this.viewer = options.room.admitViewer(link);
  }

  /** Admits the player, consumes the program and describes it; ends (and frees) everything if a step fails. */
  static async open(options: WhepSessionOptions): Promise<{ session: WhepSession; opening: WhepOpening }> {
    const session = new WhepSession(options);
    try {
      return { session, opening: await session.#open(options) };
    } catch (error) {
      session.end('failed');
      throw error;
    }
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** ICE and DTLS completed (until then the session counts as pending). */
  get connected(): boolean {
    return this.#connected;
  }

  /** Strong ETag of the ICE session: changes with every ICE restart. */
  get etag(): string {
    return `"${this.#description?.iceParameters.usernameFragment ?? ''}"`;
  }

  get remoteUfrag(): string {
    return this.#remoteUfrag;
  }

  /** The player's SDP answer to our counter-offer (PATCH application/sdp). */
  async applyAnswer(sdp: string): Promise<void> {
    if (!this.#awaitingAnswer || !this.#description)
      throw problems.conflict('this session is not waiting for an answer (it answered the offer with 201, or was answered already)');
    const answer = readRemoteDescription(sdp, WHEP_READ_OPTIONS);
    const offered = this.#sections.map((s) => s.mid);
    if (answer.mids.join(' ') !== offered.join(' '))
      throw problems.badRequest(`the answer's m-lines (mids ${answer.mids.join(', ')}) are not the offer's (${offered.join(', ')})`);
    answer.media.forEach((m, index) => {
      const mediaPt = this.#sections[index]!.consumer!.codecs[0]!.payloadType;
      if (
        !asText(m.payloads ?? '')
          .split(' ')
          .includes(String(mediaPt))
      ) {
        throw problems.unprocessable(`the answer's ${m.type} m-line drops payload type ${mediaPt}, the only codec this room sends`);
      }
    });
    this.#awaitingAnswer = false;
    this.#remoteUfrag = answer.remoteIce.usernameFragment;
    try {
      await this.viewer.connectTransport(this.#description.id, answer.remoteDtls);
    } catch (error) {
      this.#awaitingAnswer = true;
      throw problems.badRequest((error as Error).message);
    }
    this.#log.info('counter-offer answered');
  }

  /** New local ICE credentials; the sdpfrag for the player. */
  async restartIce(remoteUfrag: string): Promise<string> {
    const description = this.#description;
    if (this.#ended || !description) throw problems.notFound('the session has ended');
    const iceParameters = await this.viewer.restartIce(description.id);
    this.#description = { ...description, iceParameters };
    this.#remoteUfrag = remoteUfrag;
    const first = this.#sections.find((s) => s.consumer) ?? this.#sections[0]!;
    return buildIceRestartFragment(iceParameters, description.iceCandidates, first);
  }

  /** Leaves the room: the transport and its consumers close. Idempotent. */
  end(reason: WhepEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    this.room.removeViewer(this.viewer);
    this.#log.info({ reason }, 'WHEP session ended');
    this.safeEmit('ended', reason);
    this.removeAllListeners();
  }

  async #open(options: WhepSessionOptions): Promise<WhepOpening> {
    const { room, plan } = options;
    const description = await this.#openTransport(options.pool);
    this.#description = description;
    const routerCapabilities = options.pool.routerRtpCapabilities;
    const sections: WhepSection[] = [];
    for (const media of plan.media) {
      const track = room.program.trackOfKind(media.kind);
      if (!track) {
        sections.push({ kind: media.kind, mid: media.mid, consumer: undefined, rejectedPayloadType: media.codecs[0]?.payloadType ?? 0 });
        continue;
      }
      let consumed;
      try {
        consumed = await room.consume(this.viewer, track.id, consumeCapabilities(media, routerCapabilities));
      } catch (error) {
        if (error instanceof RoomError && error.kind === 'cannot-consume') {
          const codec = track.producer.rtpParameters.codecs[0]?.mimeType ?? 'its codec';
          throw problems.unprocessable(`this room's ${media.kind} is ${codec}, which the offer's ${media.kind} m-line does not take`);
        }
        throw error;
      }
      if (this.#ended) throw new RoomError('not-joined', 'the session ended while consuming');
      this.#consuming.set(consumed.consumerId, media.kind);
      // Running from the start: mediasoup asks for a key frame as the transport connects.
      await this.viewer.setConsumerPaused(consumed.consumerId, false);
      sections.push({ kind: media.kind, mid: media.mid, consumer: consumed.rtpParameters });
    }
    if (this.#consuming.size === 0) {
      const kinds = plan.media.map((m) => m.kind).join(' and ');
      throw problems.unprocessable(`room "${room.id}" sends no ${kinds}`);
    }
    this.#timer = setTimeout(() => {
      if (!this.#connected) this.end('not-connected');
    }, options.connectTimeoutMs);
    this.#timer.unref();
    const honoured = plan.media.every((media, index) => !sections[index]!.consumer || honours(media, sections[index]!.consumer));
    const streamId = `floodlight-${room.id}`;
    if (honoured) {
      this.#sections = sections;
      await this.viewer.connectTransport(description.id, plan.remote.remoteDtls);
      const sdp = buildWhepDescription({ type: 'answer', sections, transport: description, localSetup: plan.remote.localSetup, streamId });
      return { status: 201, sdp };
    }
    // Our own offer: only what we send, with the consumers' own mids.
    this.#sections = sections.filter((s) => s.consumer).map((s) => ({ ...s, mid: s.consumer!.mid! }));
    this.#awaitingAnswer = true;
    const sdp = buildWhepDescription({ type: 'offer', sections: this.#sections, transport: description, localSetup: 'passive', streamId });
    return { status: 406, sdp };
  }

  /**
   * The viewer's transport, opened by the room on the router it places the
   * viewer on. The WebRtcViewer keeps its mediasoup transport to itself; its
   * DTLS state is what this session needs (pending count, connect deadline,
   * key frames), so it is picked up as the worker's WebRtcServer handles it.
   */
  async #openTransport(pool: WorkerPool): Promise<TransportDescription & { id: string }> {
    const servers: ms.WebRtcServer[] = [];
    for (let index = 0; index < pool.size; index++) {
      try {
        servers.push(pool.webRtcServer(index));
      } catch {
        // A worker being replaced has no server: the room does not place viewers there.
      }
    }
    const onHandled = (transport: ms.WebRtcTransport): void => {
      if ((transport.appData as { viewer?: string }).viewer === this.viewer.id) this.#watch(transport);
    };
    for (const server of servers) server.observer.on('webrtctransporthandled', onHandled);
    try {
      const description = await this.room.openViewerTransport(this.viewer);
      if (this.#transport?.id !== description.id) throw new Error('the viewer transport was not seen on any WebRtcServer');
      return description;
    } finally {
      for (const server of servers) server.observer.off('webrtctransporthandled', onHandled);
    }
  }

  #watch(transport: ms.WebRtcTransport): void {
    this.#transport = transport;
    transport.observer.once('close', () => this.end(this.#connected ? 'disconnected' : 'failed'));
    transport.observer.on('dtlsstatechange', (state) => {
      if (state === 'connected') {
        this.#connected = true;
        clearTimeout(this.#timer);
        this.#log.info('WHEP player connected');
        for (const consumer of this.viewer.consumers()) if (consumer.kind === 'video') void consumer.requestKeyFrame().catch(() => undefined);
      }
      if (state === 'failed' || state === 'closed') this.end('disconnected');
    });
    // mediasoup reports 'disconnected' once the player's ICE consent checks stop (it went away).
    transport.observer.on('icestatechange', (state) => {
      if (state === 'disconnected' || state === 'closed') this.end('disconnected');
    });
  }

  #onNotice(notice: RoomNotice): void {
    if (notice.type === 'consumerClosed') {
      this.#consuming.delete(notice.consumerId);
      return;
    }
    if (notice.type !== 'trackAdded' || this.#ended) return;
    const kind = notice.track.kind;
    const asked = this.#plan.media.some((m) => m.kind === kind);
    if (asked && ![...this.#consuming.values()].includes(kind)) {
      this.#log.info({ kind }, 'the program has a new track this session cannot add without renegotiation; ending it');
      this.end('program-changed');
    }
  }
}
