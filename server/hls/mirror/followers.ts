/**
 * The follower's side of redundant origins, for HlsService: a stream this
 * node records as the follower (its own packager is the hot standby) gets a
 * RoomMirror of the leader's output to serve; it takes over — continues the
 * served stream with its own packagers — when the mirror loses the leader,
 * when the origin makes this node the leader, or at once when the leader is
 * not announced. Takeovers are logged and counted.
 */
import type { Logger } from '../../observability/logger.js';
import type { NodeRegistry } from '../../cluster/nodeRegistry.js';
import type { RecorderRank } from '../hlsRecorderProtocol.js';
import type { OwnRendition } from './mirroredRendition.js';
import { RoomMirror } from './roomMirror.js';

/** What Followers needs of the service's stream of a room. */
export interface FollowedStream {
  readonly roomId: string;
  /** The own packager writes the (unserved) standby. */
  readonly standby: boolean;
  mirror: RoomMirror | undefined;
  readonly packager: { readonly renditions: Readonly<Record<string, OwnRendition>> };
}

export interface FollowersOptions {
  root: string;
  nodeId: string;
  /** Where the leader is (its publicUrl). */
  nodes: Pick<NodeRegistry, 'nodes'> | undefined;
  logger: Logger;
}

export class Followers {
  readonly #options: FollowersOptions;
  #takeovers = 0;
  #closed = false;

  constructor(options: FollowersOptions) {
    this.#options = options;
  }

  /** Followers that continued a room's stream with their own recorder since start. */
  get takeoversTotal(): number {
    return this.#takeovers;
  }

  /**
   * Applies the node's rank to a standby stream: a mirror of the leader while
   * it follows, a takeover once it leads. A stream that began as the leader
   * stays one (it never turns into a mirror). `current()`: the stream is
   * still the room's (asked after the registry lookup).
   */
  async follow(stream: FollowedStream, rank: { rank: RecorderRank; leader: string } | undefined, current: () => boolean): Promise<void> {
    if (!stream.standby || !rank || this.#closed) return;
    const log = this.#options.logger;
    if (!stream.mirror) {
      const leaderUrl =
        rank.rank === 'follower' ? (await this.#options.nodes?.nodes().catch(() => []))?.find((node) => node.id === rank.leader)?.publicUrl : undefined;
      if (this.#closed || !current() || stream.mirror) return;
      stream.mirror = new RoomMirror({
        root: this.#options.root,
        room: stream.roomId,
        renditions: Object.keys(stream.packager.renditions),
        leaderUrl: leaderUrl ?? 'http://127.0.0.1:9',
        leaderNode: rank.leader,
        nodeId: this.#options.nodeId,
        onLeaderLost: (error) => void this.takeover(stream, error.message),
        logger: log,
      });
      if (leaderUrl === undefined) {
        await this.takeover(stream, `the leader ${rank.leader} is not announced`);
        return;
      }
      stream.mirror.start();
      log.info({ room: stream.roomId, leader: rank.leader }, 'HLS follower: serving a mirror of the leading origin');
    }
    if (rank.rank === 'leader') await this.takeover(stream, 'the origin made this node the leader');
    else if (rank.leader !== stream.mirror.leaderNode)
      log.warn({ room: stream.roomId, leader: rank.leader }, 'the room has a new leader; this follower keeps mirroring the first');
  }

  /** The leader is gone: the mirrored stream continues with this node's own packagers (once). */
  async takeover(stream: FollowedStream, reason: string): Promise<void> {
    const mirror = stream.mirror;
    if (!mirror || mirror.takenOver || this.#closed) return;
    this.#takeovers += 1;
    const started = Date.now();
    await mirror.takeover(stream.packager.renditions, reason);
    this.#options.logger.warn({ room: stream.roomId, reason, ms: Date.now() - started, takeovers: this.#takeovers }, 'HLS takeover done');
  }

  close(): void {
    this.#closed = true;
  }
}
