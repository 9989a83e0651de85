/**
 * The part RTMP and SRT share once a connection has said which stream key it
 * publishes with: the key's room and slot (refused before anything is
 * allocated: unknown or revoked key, slot busy or being claimed), then — once
 * the first second of the stream has been probed — an FfmpegIngestSource put
 * into the room's slot.
 *
 *   const claim = await ingests.claim(key, 'rtmp');        // IngestRefusal if not allowed
 *   claim.write(chunk) …                                   // buffered until the probe window closes
 *   await claim.ready;                                     // the source is on air (or it rejects)
 *   claim.close();                                         // the connection went away: ends it all
 */
import type { Logger } from '../observability/logger.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import type { Room } from '../rooms/room.js';
import { RoomError } from '../rooms/roomError.js';
import type { SourceSlot } from '../sources/mediaSource.js';
import { FfmpegIngestSource } from '../sources/ffmpegIngestSource.js';
import type { StreamKeyStore } from './keys/streamKeyStore.js';
import { ffprobePathFor, planVideo, probeIngest, probeIsConclusive, type IngestProbe, type IngestVideoPlan } from './ingestProbe.js';
import { requiredVideoCodec } from './programCodec.js';

/** How long the stream is buffered and probed before the source starts. */
export const PROBE_WINDOW_MS = 1000;
/** An inconclusive probe (too few video frames yet) is repeated this often… */
const PROBE_RETRY_MS = 500;
/** …until this long after the first one. */
const PROBE_GIVE_UP_MS = 8_000;
/** …or until this much arrived (a very high bitrate). */
const PROBE_MAX_BYTES = 4 * 1024 * 1024;
/** What may be buffered while probing (8 s of a 30 Mbit/s stream). */
const MAX_HEAD_BYTES = 32 * 1024 * 1024;
/** A claimed stream that sends nothing for this long is dropped. */
const FIRST_MEDIA_TIMEOUT_MS = 10_000;

export class IngestRefusal extends Error {
  override name = 'IngestRefusal';
}

export interface EncoderIngestsOptions {
  rooms: RoomRegistry;
  keys: StreamKeyStore;
  rtcPortRange: { min: number; max: number };
  ffmpegPath: string;
  probeWindowMs?: number;
  logger: Logger;
}

export interface ClaimDetails {
  protocol: 'rtmp' | 'srt';
  format: 'flv' | 'mpegts';
  remoteAddress: string | null;
  inputLossPercent?: () => number | null;
}

/** What a claim buffered so far: probed (peek) until it says enough, then handed to ffmpeg (take). */
export interface BufferedHead {
  peek(): Buffer;
  take(): Buffer;
  closed(): boolean;
}

/** One connection's hold on a room's slot, from its key check to the end of its source. */
export class IngestClaim {
  readonly room: string;
  readonly slot: SourceSlot;
  /** Resolves with the source on air; rejects (IngestRefusal or a setup error) if it cannot start. */
  readonly ready: Promise<FfmpegIngestSource>;
  readonly #probeWindowMs: number;
  readonly #onClose: () => void;
  readonly #head: Buffer[] = [];
  readonly #firstMediaTimer: NodeJS.Timeout;
  #headBytes = 0;
  #probeTimer: NodeJS.Timeout | undefined;
  #windowOver: () => void = () => undefined;
  #refuse: (error: Error) => void = () => undefined;
  #source: FfmpegIngestSource | undefined;
  #closed = false;

  constructor(room: string, slot: SourceSlot, open: (head: BufferedHead) => Promise<FfmpegIngestSource>, probeWindowMs: number, onClose: () => void) {
    this.room = room;
    this.slot = slot;
    this.#probeWindowMs = probeWindowMs;
    this.#onClose = onClose;
    const windowOver = new Promise<void>((resolve, reject) => {
      this.#windowOver = resolve;
      this.#refuse = reject;
    });
    this.#firstMediaTimer = setTimeout(() => this.#refuse(new IngestRefusal(`no media within ${FIRST_MEDIA_TIMEOUT_MS / 1000} s`)), FIRST_MEDIA_TIMEOUT_MS);
    this.ready = windowOver.then(async () => {
      clearTimeout(this.#firstMediaTimer);
      if (this.#closed) throw new IngestRefusal('the connection closed');
      const source = await open({
        peek: () => Buffer.concat(this.#head),
        take: () => Buffer.concat(this.#head.splice(0)),
        closed: () => this.#closed,
      });
      if (this.#closed) {
        source.end('left');
        throw new IngestRefusal('the connection closed');
      }
      this.#source = source;
      // What arrived while the probe ran follows the probed head.
      for (const chunk of this.#head.splice(0)) source.write(chunk);
      source.once('ended', () => this.close());
      return source;
    });
    // Whoever awaits `ready` hears about a failure; an unawaited one must not crash the process.
    this.ready.catch(() => this.close());
  }

  get source(): FfmpegIngestSource | undefined {
    return this.#source;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The stream's next bytes: buffered for the probe, then straight to ffmpeg. */
  write(chunk: Buffer): void {
    if (this.#closed) return;
    if (this.#source) {
      this.#source.write(chunk);
      return;
    }
    this.#head.push(chunk);
    this.#headBytes += chunk.length;
    if (this.#headBytes > MAX_HEAD_BYTES) {
      // A probe that never concludes must not buffer without end.
      this.close();
      return;
    }
    clearTimeout(this.#firstMediaTimer);
    this.#probeTimer ??= setTimeout(() => this.#windowOver(), this.#probeWindowMs);
    if (this.#headBytes >= PROBE_MAX_BYTES) this.#windowOver();
  }

  /** Ends the source (if any) and frees the slot. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#firstMediaTimer);
    clearTimeout(this.#probeTimer);
    this.#head.length = 0;
    this.#refuse(new IngestRefusal('the connection closed'));
    this.#source?.end('left');
    this.#onClose();
  }
}

export class EncoderIngests {
  readonly #options: EncoderIngestsOptions;
  readonly #log: Logger;
  /** "room/slot" of every claim, from its key check until it closes. */
  readonly #claims = new Map<string, IngestClaim>();
  #closed = false;

  constructor(options: EncoderIngestsOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'encoder-ingest' });
  }

  /** Claims (and their sources) alive now. */
  get size(): number {
    return this.#claims.size;
  }

  /** Checks `key` and reserves its room's slot; IngestRefusal (nothing allocated) when it may not publish. */
  async claim(key: string, details: ClaimDetails): Promise<IngestClaim> {
    if (this.#closed) throw new IngestRefusal('the server is shutting down');
    if (key === '') throw new IngestRefusal('a stream key is required');
    const grant = await this.#options.keys.resolve(key);
    if (!grant) throw new IngestRefusal('unknown or revoked stream key');
    const { room, slot } = grant;
    const name = `${room}/${slot}`;
    if (
      this.#claims.has(name) ||
      this.#options.rooms
        .get(room)
        ?.sources()
        .some((s) => s.slot === slot)
    )
      throw new IngestRefusal(`the ${slot} slot of room "${room}" is already publishing`);
    if (this.#closed) throw new IngestRefusal('the server is shutting down');
    const log = this.#log.child({ room, slot, protocol: details.protocol });
    const claim: IngestClaim = new IngestClaim(
      room,
      slot,
      (head) => this.#open(claim, details, head, log),
      this.#options.probeWindowMs ?? PROBE_WINDOW_MS,
      () => {
        if (this.#claims.get(name) === claim) this.#claims.delete(name);
      },
    );
    this.#claims.set(name, claim);
    log.info({ remote: details.remoteAddress }, 'encoder authorized');
    return claim;
  }

  /** Ends every ingest. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const claim of [...this.#claims.values()]) claim.close();
  }

  /**
   * Probes until the head shows enough video to decide (encoders' first frames can come a
   * second or more after their first bytes: x264's look-ahead), then starts the source.
   */
  async #probe(head: BufferedHead, format: 'flv' | 'mpegts'): Promise<IngestProbe> {
    const deadline = Date.now() + PROBE_GIVE_UP_MS;
    for (;;) {
      let probe: IngestProbe | undefined;
      try {
        probe = await probeIngest(head.peek(), format, { ffprobePath: ffprobePathFor(this.#options.ffmpegPath), timeoutMs: 10_000 });
      } catch (error) {
        if (Date.now() >= deadline) throw new IngestRefusal((error as Error).message);
      }
      if (head.closed()) throw new IngestRefusal('the connection closed');
      if (probe && (probeIsConclusive(probe) || Date.now() >= deadline)) return probe;
      if (Date.now() >= deadline) throw new IngestRefusal('the stream has no video');
      await new Promise((resolve) => setTimeout(resolve, PROBE_RETRY_MS));
    }
  }

  async #open(claim: IngestClaim, details: ClaimDetails, head: BufferedHead, log: Logger): Promise<FfmpegIngestSource> {
    const { ffmpegPath, rooms } = this.#options;
    const probe = await this.#probe(head, details.format);
    if (claim.closed) throw new IngestRefusal('the connection closed');
    let room: Room | undefined;
    let source: FfmpegIngestSource | undefined;
    let plan: IngestVideoPlan;
    try {
      room = await rooms.open(claim.room);
      // A backup sends what the other slot's encoder sends: viewers then switch without renegotiating.
      plan = planVideo(probe, requiredVideoCodec(room, claim.slot));
      const { router } = await room.ingestRouter();
      source = await FfmpegIngestSource.create(
        {
          protocol: details.protocol,
          slot: claim.slot,
          router,
          format: details.format,
          probe,
          plan,
          rtcPortRange: this.#options.rtcPortRange,
          ffmpegPath,
          remoteAddress: details.remoteAddress,
          ...(details.inputLossPercent ? { inputLossPercent: details.inputLossPercent } : {}),
          logger: log,
        },
        head.take(),
      );
      room.addSource(source, { replace: false });
    } catch (error) {
      source?.end('failed');
      if (room) rooms.releaseIfEmpty(room);
      if (error instanceof RoomError) throw new IngestRefusal(error.message);
      throw error;
    }
    log.info({ video: probe.video, audio: probe.audio?.codec ?? null, mode: plan.mode }, 'encoder on air');
    return source;
  }
}
