/**
 * This node's WHIP sessions (RFC 9725 resources): publish an offer into a
 * room's slot, restart ICE or take trickled candidates, end a session. The
 * HTTP side (whipRoutes.ts) authenticates and reads bodies; this side decides
 * what happens to media, and refuses with HttpProblems.
 *
 * A refused request allocates nothing: the offer, the overload limit and the
 * slot are checked before any room, router or transport exists; a failure
 * after that frees what was made.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../observability/logger.js';
import type { RoomRegistry } from '../../rooms/roomRegistry.js';
import type { Room } from '../../rooms/room.js';
import { RoomError } from '../../rooms/roomError.js';
import type { WorkerPool } from '../../media/workerPool.js';
import type { SourceSlot } from '../../sources/mediaSource.js';
import { WhipSource } from '../../sources/whipSource.js';
import { SdpOfferError } from '../../webrtc/sdp/remoteDescription.js';
import { buildIceRestartFragment, parseIceFragment } from '../../webrtc/sdp/sdpLines.js';
import { problems, HttpProblem } from '../../webrtc/httpProblem.js';
import { planWhipOffer, type WhipOfferPlan } from './whipOffer.js';
import { buildWhipAnswer } from './whipAnswer.js';
import { codecName, requiredVideoCodec, type RequiredVideoCodec } from '../programCodec.js';

/** A session that has not completed ICE + DTLS by then is closed. */
export const WHIP_CONNECT_TIMEOUT_MS = 15_000;

export interface WhipSessionsOptions {
  rooms: RoomRegistry;
  pool: WorkerPool;
  keyFrameRequestDelayMs: number;
  /** Sessions still connecting at once; more are refused with 503. */
  maxPendingSessions: number;
  connectTimeoutMs?: number;
  logger: Logger;
}

interface WhipSession {
  id: string;
  room: string;
  source: WhipSource;
  plan: WhipOfferPlan;
  /** The client's current ICE ufrag (a PATCH with another one is a restart). */
  remoteUfrag: string;
}

export interface PublishResult {
  sessionId: string;
  answer: string;
  etag: string;
}

export type PatchResult = { kind: 'trickle' } | { kind: 'restart'; fragment: string; etag: string };

const etagOf = (source: WhipSource): string => `"${source.transport.iceParameters.usernameFragment}"`;

export class WhipSessions {
  readonly #options: WhipSessionsOptions;
  readonly #log: Logger;
  readonly #sessions = new Map<string, WhipSession>();
  /** Offers being set up (not yet in #sessions): they count against the pending limit. */
  #opening = 0;
  #closed = false;

  constructor(options: WhipSessionsOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'whip' });
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Sessions still connecting (ICE/DTLS not done), including offers being set up. */
  get pending(): number {
    return this.#opening + [...this.#sessions.values()].filter((s) => !s.source.connected).length;
  }

  async publish(roomId: string, slot: SourceSlot, offer: string): Promise<PublishResult> {
    if (this.#closed) throw problems.unavailable('the server is shutting down', 5);
    if (this.pending >= this.#options.maxPendingSessions) {
      throw problems.unavailable(`too many WHIP sessions are connecting (${this.#options.maxPendingSessions}); retry shortly`);
    }
    let plan: WhipOfferPlan;
    try {
      plan = planWhipOffer(offer, this.#options.pool.routerRtpCapabilities, requiredVideoCodec(this.#options.rooms.get(roomId), slot));
    } catch (error) {
      if (error instanceof SdpOfferError) throw error.status === 400 ? problems.badRequest(error.message) : problems.unprocessable(error.message);
      throw error;
    }
    this.#assertSlotFree(this.#options.rooms.get(roomId), roomId, slot);
    this.#opening++;
    let room: Room | undefined;
    let source: WhipSource | undefined;
    try {
      room = await this.#options.rooms.open(roomId);
      this.#assertSlotFree(room, roomId, slot);
      assertVideoCodec(plan, requiredVideoCodec(room, slot));
      const { router, workerIndex } = await room.ingestRouter();
      source = await WhipSource.create({
        router,
        webRtcServer: this.#options.pool.webRtcServer(workerIndex),
        slot,
        plan,
        keyFrameRequestDelayMs: this.#options.keyFrameRequestDelayMs,
        connectTimeoutMs: this.#options.connectTimeoutMs ?? WHIP_CONNECT_TIMEOUT_MS,
        logger: this.#log.child({ room: roomId }),
      });
      room.addSource(source, { replace: false });
    } catch (error) {
      source?.end('failed');
      if (room) this.#options.rooms.releaseIfEmpty(room);
      throw asProblem(error);
    } finally {
      this.#opening--;
    }
    const session: WhipSession = { id: randomUUID(), room: roomId, source, plan, remoteUfrag: plan.remoteIce.usernameFragment };
    this.#sessions.set(session.id, session);
    source.once('ended', (reason) => {
      this.#sessions.delete(session.id);
      this.#log.info({ room: roomId, session: session.id, reason }, 'WHIP session ended');
    });
    this.#log.info({ room: roomId, session: session.id, slot, source: source.id }, 'WHIP session started');
    return { sessionId: session.id, answer: buildWhipAnswer(plan, source.transport), etag: etagOf(source) };
  }

  /**
   * PATCH (RFC 9725 §4.3): `ifMatch` is required; "*" or the current ETag.
   * New ICE credentials in the fragment restart ICE; candidates alone are
   * trickle, which an ICE-lite server does not need (it learns the client's
   * address from its checks), so they are acknowledged.
   */
  async patch(roomId: string, sessionId: string, ifMatch: string | undefined, body: string): Promise<PatchResult> {
    const session = this.#session(roomId, sessionId);
    if (ifMatch === undefined) throw problems.preconditionRequired('PATCH needs If-Match with the session\'s ETag (or "*" for an ICE restart)');
    const fragment = parseIceFragment(body);
    if (!fragment) throw problems.badRequest('the body is not a trickle-ice-sdpfrag');
    if (ifMatch.trim() !== '*' && ifMatch.trim() !== etagOf(session.source))
      throw problems.preconditionFailed('the ETag is stale: the ICE session was restarted');
    const restart = fragment.usernameFragment !== undefined && fragment.usernameFragment !== session.remoteUfrag;
    if (!restart) return { kind: 'trickle' };
    if (!fragment.password) throw problems.badRequest('an ICE restart needs a=ice-pwd with a=ice-ufrag');
    const iceParameters = await session.source.restartIce();
    session.remoteUfrag = fragment.usernameFragment!;
    const first = session.plan.media[0]!;
    this.#log.info({ room: roomId, session: sessionId }, 'WHIP ICE restart');
    return { kind: 'restart', fragment: buildIceRestartFragment(iceParameters, session.source.transport.iceCandidates, first), etag: etagOf(session.source) };
  }

  /** DELETE: ends the source and frees its transport. */
  end(roomId: string, sessionId: string): void {
    this.#session(roomId, sessionId).source.end('left');
  }

  /** Ends every session. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const session of [...this.#sessions.values()]) session.source.end('room-closed');
  }

  #session(roomId: string, sessionId: string): WhipSession {
    const session = this.#sessions.get(sessionId);
    if (session?.room !== roomId) throw problems.notFound('no such WHIP session (it ended, or never existed)');
    return session;
  }

  #assertSlotFree(room: Room | undefined, roomId: string, slot: SourceSlot): void {
    if (room?.sources().some((s) => s.slot === slot)) throw problems.conflict(`the ${slot} slot of room "${roomId}" is already publishing`);
  }
}

/** The other slot's encoder may have started while this offer was read: its codec still binds. */
function assertVideoCodec(plan: WhipOfferPlan, required: RequiredVideoCodec | undefined): void {
  const offered = plan.media.find((m) => m.kind === 'video')?.rtpParameters.codecs[0]?.mimeType;
  if (required && offered && offered.toLowerCase() !== required.mimeType.toLowerCase()) {
    throw problems.unprocessable(
      `the room's video is now ${codecName(required.mimeType)}, from ${required.from}: publish again, sending ${codecName(required.mimeType)}`,
    );
  }
}

function asProblem(error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error instanceof RoomError) {
    if (error.kind === 'slot-busy') return problems.conflict(error.message);
    if (error.kind === 'unavailable' || error.kind === 'limit-reached') return problems.unavailable(error.message);
  }
  // mediasoup refused the parameters the offer gave (checked as far as we can before).
  if (error instanceof Error && (error.name === 'TypeError' || error.name === 'UnsupportedError'))
    return problems.unprocessable(`cannot take this offer: ${error.message}`);
  return problems.unavailable(`could not set up the media: ${(error as Error).message}`);
}
