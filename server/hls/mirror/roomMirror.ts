/**
 * A follower's mirror of a room (issue 12, redundant origins): one
 * MirroredRendition per rendition of the ladder, pulling the leader's
 * `/hls/<room>/…` into `<root>/<room>/`, and the leader's master playlist
 * re-read every few seconds for what each variant is (codecs, size,
 * bandwidth), so this node's master lists the same. When a rendition loses
 * the leader, `onLeaderLost` is called once; `takeover(own)` then continues
 * every rendition with this node's own packagers (see mirroredRendition.ts).
 */
import path from 'node:path';
import type { Logger } from '../../observability/logger.js';
import { MASTER_PLAYLIST_FILE } from '../roomPackager.js';
import type { RenditionReport } from '../llHlsPlaylist.js';
import { LeaderClient, type LeaderUnreachableError } from './leaderClient.js';
import { MirroredRendition, type OwnRendition } from './mirroredRendition.js';
import { parseMasterPlaylist } from './playlistText.js';

export interface RoomMirrorOptions {
  root: string;
  room: string;
  renditions: readonly string[];
  /** The leader's public URL (its node record's publicUrl). */
  leaderUrl: string;
  leaderNode: string;
  /** This node (sent to the leader with every pull). */
  nodeId: string;
  onLeaderLost: (error: LeaderUnreachableError) => void;
  logger: Logger;
}

const MASTER_REFRESH_MS = 2_000;
const MASTER_TIMEOUT_MS = 8_000;

export class RoomMirror {
  readonly room: string;
  readonly leaderNode: string;
  readonly renditions: Readonly<Record<string, MirroredRendition>>;
  readonly #client: LeaderClient;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #options: RoomMirrorOptions;
  #masterTimer: NodeJS.Timeout | undefined;
  #lost = false;
  #closed = false;

  constructor(options: RoomMirrorOptions) {
    this.#options = options;
    this.room = options.room;
    this.leaderNode = options.leaderNode;
    this.#log = options.logger.child({ component: 'hls-mirror', room: options.room, leader: options.leaderNode });
    this.#client = new LeaderClient(`${options.leaderUrl.replace(/\/+$/, '')}/hls/${options.room}/`, options.nodeId);
    const renditions: Record<string, MirroredRendition> = {};
    for (const name of options.renditions) {
      renditions[name] = new MirroredRendition({
        name,
        dir: path.join(options.root, options.room, name),
        root: options.root,
        client: this.#client,
        onLeaderLost: (error) => this.#leaderLost(error),
        renditionReports: () => this.#reportsFor(name),
        logger: this.#log,
      });
    }
    this.renditions = renditions;
  }

  start(): void {
    for (const rendition of Object.values(this.renditions)) rendition.start();
    void this.#refreshMaster();
  }

  get takenOver(): boolean {
    return Object.values(this.renditions).some((r) => r.takenOver);
  }

  /** The leader is gone: every rendition continues with this node's own packager of the same name. */
  async takeover(own: Readonly<Record<string, OwnRendition>>, reason: string): Promise<void> {
    if (this.#closed || this.takenOver) return;
    this.#log.warn({ reason }, 'HLS takeover: this follower continues the stream with its own recorder');
    clearTimeout(this.#masterTimer);
    await Promise.all(
      Object.entries(this.renditions).map(async ([name, rendition]) => {
        const ownRendition = own[name];
        if (ownRendition) await rendition.takeover(ownRendition);
        else await rendition.end();
      }),
    );
  }

  async end(options: { waitForLeaderMs?: number } = {}): Promise<void> {
    clearTimeout(this.#masterTimer);
    await Promise.all(Object.values(this.renditions).map((r) => r.end(options)));
  }

  async close(options: { removeFiles?: boolean } = {}): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    clearTimeout(this.#masterTimer);
    await Promise.all(Object.values(this.renditions).map((r) => r.close(options)));
  }

  #leaderLost(error: LeaderUnreachableError): void {
    if (this.#lost || this.#closed) return;
    this.#lost = true;
    this.#options.onLeaderLost(error);
  }

  /** Re-reads the leader's master (its bandwidth figures move; its variants may change with the source). */
  async #refreshMaster(): Promise<void> {
    if (this.#closed || this.#lost || this.takenOver) return;
    try {
      const answer = await this.#client.text(MASTER_PLAYLIST_FILE, this.#abort.signal, MASTER_TIMEOUT_MS);
      if (answer.body !== undefined) {
        const variants = parseMasterPlaylist(answer.body);
        for (const [name, rendition] of Object.entries(this.renditions)) rendition.setVariant(variants.get(`${name}/index.m3u8`));
      }
    } catch {
      // Unreachable: the renditions' pulls notice it and decide.
    }
    if (this.#closed || this.#lost || this.takenOver) return;
    this.#masterTimer = setTimeout(() => void this.#refreshMaster(), MASTER_REFRESH_MS);
    this.#masterTimer.unref();
  }

  #reportsFor(name: string): RenditionReport[] {
    return Object.entries(this.renditions).flatMap(([other, rendition]) => {
      if (other === name) return [];
      const { lastMsn, lastPart } = rendition.status();
      return lastMsn < 0 ? [] : [{ uri: `../${other}/index.m3u8`, lastMsn, lastPart }];
    });
  }
}
