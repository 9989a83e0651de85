/**
 * This node's WHEP sessions (draft-ietf-wish-whep resources): play a room's
 * program to a player's offer, take its answer to our counter-offer, restart
 * ICE or take trickled candidates, end a session. The HTTP side
 * (whepRoutes.ts) authorizes, redirects and reads bodies; this side decides
 * what happens to media, and refuses with HttpProblems.
 *
 * A refused request allocates nothing: the offer and the pending limit are
 * checked before any viewer exists, a room that is not live is refused before
 * a room is opened (in a cluster, a room live on another node opens here as
 * its edge), and a failure after that frees what was made.
 */
import type { Logger } from '../../observability/logger.js';
import type { RoomRegistry } from '../../rooms/roomRegistry.js';
import type { Room } from '../../rooms/room.js';
import { RoomError } from '../../rooms/roomError.js';
import type { RoomDirectory } from '../../cluster/roomDirectory.js';
import type { WorkerPool } from '../../media/workerPool.js';
import { SdpOfferError } from '../../webrtc/sdp/remoteDescription.js';
import { parseIceFragment } from '../../webrtc/sdp/sdpLines.js';
import { HttpProblem, problems } from '../../webrtc/httpProblem.js';
import { planWhepOffer, type WhepOfferPlan } from './whepOffer.js';
import { WhepSession } from './whepSession.js';

/** A session that has not completed ICE + DTLS by then is closed. */
export const WHEP_CONNECT_TIMEOUT_MS = 15_000;
/** What a player is told to wait before asking again for a room that is not live. */
export const NOT_LIVE_RETRY_AFTER_S = 2;

export interface WhepSessionsOptions {
  rooms: RoomRegistry;
  /** Where rooms are live (another node, in a cluster). */
  directory: RoomDirectory;
  pool: WorkerPool;
  /** Sessions still connecting at once; more are refused with 503. */
  maxPendingSessions: number;
  connectTimeoutMs?: number;
  logger: Logger;
}

export interface PlayResult {
  /** 201: the answer to the player's offer; 406: our counter-offer, to be answered by PATCH. */
  status: 201 | 406;
  sessionId: string;
  sdp: string;
  etag: string;
}

export type WhepPatchResult = { kind: 'answered' } | { kind: 'trickle' } | { kind: 'restart'; fragment: string; etag: string };

export class WhepSessions {
  readonly #options: WhepSessionsOptions;
  readonly #log: Logger;
  readonly #sessions = new Map<string, WhepSession>();
  /** Offers being set up (not yet in #sessions): they count against the pending limit. */
  #opening = 0;
  #closed = false;

  constructor(options: WhepSessionsOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'whep' });
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Sessions still connecting (ICE/DTLS not done), including offers being set up. */
  get pending(): number {
    return this.#opening + [...this.#sessions.values()].filter((s) => !s.connected).length;
  }

  async play(roomId: string, offer: string): Promise<PlayResult> {
    if (this.#closed) throw problems.unavailable('the server is shutting down', 5);
    if (this.pending >= this.#options.maxPendingSessions) {
      throw problems.unavailable(`too many WHEP sessions are connecting (${this.#options.maxPendingSessions}); retry shortly`);
    }
    let plan: WhepOfferPlan;
    try {
      plan = planWhepOffer(offer);
    } catch (error) {
      if (error instanceof SdpOfferError) throw error.status === 400 ? problems.badRequest(error.message) : problems.unprocessable(error.message);
      throw error;
    }
    this.#opening++;
    let room: Room | undefined;
    try {
      room = await this.#liveRoom(roomId);
      const { session, opening } = await WhepSession.open({
        room,
        plan,
        pool: this.#options.pool,
        connectTimeoutMs: this.#options.connectTimeoutMs ?? WHEP_CONNECT_TIMEOUT_MS,
        logger: this.#log,
      });
      this.#sessions.set(session.id, session);
      session.once('ended', () => this.#sessions.delete(session.id));
      this.#log.info({ room: roomId, session: session.id, status: opening.status }, 'WHEP session started');
      return { status: opening.status, sessionId: session.id, sdp: opening.sdp, etag: session.etag };
    } catch (error) {
      if (room) this.#options.rooms.releaseIfEmpty(room);
      throw asProblem(error);
    } finally {
      this.#opening--;
    }
  }

  /**
   * PATCH: `application/sdp` is the player's answer to our counter-offer;
   * `application/trickle-ice-sdpfrag` is trickle (acknowledged: an ICE-lite
   * server learns the player's address from its checks) or, with new
   * credentials, an ICE restart, which needs If-Match as in WHIP.
   */
  async patch(roomId: string, sessionId: string, type: 'sdp' | 'sdpfrag', ifMatch: string | undefined, body: string): Promise<WhepPatchResult> {
    const session = this.#session(roomId, sessionId);
    if (type === 'sdp') {
      try {
        await session.applyAnswer(body);
      } catch (error) {
        throw asProblem(error);
      }
      return { kind: 'answered' };
    }
    if (ifMatch === undefined) throw problems.preconditionRequired('PATCH needs If-Match with the session\'s ETag (or "*" for an ICE restart)');
    const fragment = parseIceFragment(body);
    if (!fragment) throw problems.badRequest('the body is not a trickle-ice-sdpfrag');
    if (ifMatch.trim() !== '*' && ifMatch.trim() !== session.etag) throw problems.preconditionFailed('the ETag is stale: the ICE session was restarted');
    const restart = fragment.usernameFragment !== undefined && fragment.usernameFragment !== session.remoteUfrag;
    if (!restart) return { kind: 'trickle' };
    if (!fragment.password) throw problems.badRequest('an ICE restart needs a=ice-pwd with a=ice-ufrag');
    const restartFragment = await session.restartIce(fragment.usernameFragment!);
    this.#log.info({ room: roomId, session: sessionId }, 'WHEP ICE restart');
    return { kind: 'restart', fragment: restartFragment, etag: session.etag };
  }

  /** DELETE: the player leaves; its transport and consumers close. */
  end(roomId: string, sessionId: string): void {
    this.#session(roomId, sessionId).end('left');
  }

  /** Ends every session. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const session of [...this.#sessions.values()]) session.end('room-closed');
  }

  #session(roomId: string, sessionId: string): WhepSession {
    const session = this.#sessions.get(sessionId);
    if (session?.room.id !== roomId) throw problems.notFound('no such WHEP session (it ended, or never existed)');
    return session;
  }

  /** The room, live on this node; opened as an edge when it is live on another node. */
  async #liveRoom(roomId: string): Promise<Room> {
    const local = this.#options.rooms.get(roomId);
    if (local?.live && !local.closed) return this.#options.rooms.open(roomId);
    let origin;
    try {
      origin = await this.#options.directory.originOf(roomId);
    } catch (error) {
      throw problems.unavailable(`the cluster state is unreachable (${(error as Error).message}); try again`);
    }
    if (!origin) throw notLive(roomId);
    const room = await this.#options.rooms.open(roomId);
    if (!room.live) {
      this.#options.rooms.releaseIfEmpty(room);
      throw notLive(roomId);
    }
    return room;
  }
}

const notLive = (roomId: string): HttpProblem =>
  problems.conflict(`room "${roomId}" is not live; try again once its broadcast has started`, NOT_LIVE_RETRY_AFTER_S);

function asProblem(error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error instanceof SdpOfferError) return error.status === 400 ? problems.badRequest(error.message) : problems.unprocessable(error.message);
  if (error instanceof RoomError) {
    if (error.kind === 'not-live') return problems.conflict(error.message, NOT_LIVE_RETRY_AFTER_S);
    if (error.kind === 'room-full') return problems.unavailable(error.message, 10);
    if (error.kind === 'cannot-consume' || error.kind === 'bad-request') return problems.unprocessable(error.message);
    return problems.unavailable(error.message);
  }
  return problems.unavailable(`could not set up the media: ${(error as Error).message}`);
}
