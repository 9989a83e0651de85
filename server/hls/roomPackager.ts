/**
 * A room's HLS output: one `RenditionPackager` per rendition of the ABR ladder
 * under `<root>/<room>/<rendition>/`, linked so that every media playlist
 * carries EXT-X-RENDITION-REPORT tags for the others (required by the LL-HLS
 * server profile; clients use them to switch renditions without a tune-in),
 * plus the multivariant ("master") playlist built from what the renditions
 * measured (codecs and resolution from the init section, frame rate and
 * bitrates from the segments). The master is also written to
 * `<root>/<room>/index.m3u8` once every rendition is ready, so the directory
 * can be served statically or pulled by a CDN.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { buildMasterPlaylist, type VariantStream } from './llHlsPlaylist.js';
import { MsnAligner } from './cmafSegmenter.js';
import { linkOnPath } from './hlsDirSafety.js';
import { RenditionPackager, type RenditionPackagerOptions } from './renditionPackager.js';
import { ROOM_ID_PATTERN as ROOM_NAME_PATTERN } from '../contracts/roomId.js';
import type { ServedRenditions } from './servedRendition.js';

export { ROOM_NAME_PATTERN };
export const RENDITION_NAME_PATTERN = /^[a-z0-9]{1,16}$/;
export const MASTER_PLAYLIST_FILE = 'index.m3u8';

/**
 * One rendition of the room. The recorder's ladder entries (name, height,
 * videoBitrate, audioBitrate) can be passed as they are.
 */
export interface RoomRendition {
  /** Directory and URL name, [a-z0-9]{1,16}, e.g. '720p'. */
  name: string;
  /** Declared peak bits/s (video + audio + container), used if above the measured peak. */
  bandwidth?: number;
  /** Without `bandwidth`: the declared peak is derived from these (maxrate 1.1 ×, +5 % container). */
  videoBitrate?: number;
  audioBitrate?: number;
}

/** Declared peak bits/s of a rendition, if it says anything about it. */
export function declaredBandwidth(rendition: RoomRendition): number | undefined {
  if (rendition.bandwidth !== undefined) return rendition.bandwidth;
  if (rendition.videoBitrate === undefined) return undefined;
  return Math.round((rendition.videoBitrate * 1.1 + (rendition.audioBitrate ?? 0)) * 1.05);
}

export interface HlsRoomPackagerOptions extends Omit<RenditionPackagerOptions, 'dir' | 'name' | 'bandwidth' | 'msnAligner'> {
  /** The HLS root (the routes' `root`). */
  root: string;
  room: string;
  renditions: readonly RoomRendition[];
}

export type RenditionPackagers = Readonly<Record<string, RenditionPackager>>;

/**
 * The master playlist for these renditions, or undefined while none is ready.
 * While some are not ready yet it waits for them up to `graceMs` after the
 * first became ready (a master lists its variants once; clients rarely reload
 * it), then lists the ready ones only. A rendition with the same resolution
 * as a higher one of the ladder (the source is smaller than the top of the
 * ladder, which is never upscaled) is left out: the higher one is kept, so that
 * when the source grows again the URL players already know is the one that grows.
 * Sizes are the renditions' latest init sections, so the master follows a
 * source whose resolution changes.
 */
export function masterPlaylistFor(packagers: ServedRenditions, options: { graceMs?: number; now?: number } = {}): string | undefined {
  const entries = Object.entries(packagers).filter(([, p]) => !p.closed);
  const variants: VariantStream[] = [];
  let firstReady = Infinity;
  for (const [name, packager] of entries) {
    const info = packager.info();
    const since = packager.readySince;
    if (!info || since === undefined) continue;
    firstReady = Math.min(firstReady, since);
    const variant: VariantStream = {
      uri: `${name}/index.m3u8`,
      name,
      bandwidth: info.bandwidth,
      averageBandwidth: info.averageBandwidth,
      codecs: info.codecs,
    };
    if (info.width !== undefined) variant.width = info.width;
    if (info.height !== undefined) variant.height = info.height;
    if (info.frameRate !== undefined) variant.frameRate = info.frameRate;
    variants.push(variant);
  }
  if (variants.length === 0) return undefined;
  const now = options.now ?? Date.now();
  if (variants.length < entries.length && now - firstReady < (options.graceMs ?? 5_000)) return undefined;
  const kept: VariantStream[] = [];
  const resolutions = new Set<string>();
  // `packagers` is in ladder order, highest first.
  for (const variant of variants) {
    const resolution = variant.width && variant.height ? `${variant.width}x${variant.height}` : undefined;
    if (resolution && resolutions.has(resolution)) continue;
    if (resolution) resolutions.add(resolution);
    kept.push(variant);
  }
  return buildMasterPlaylist({ variants: kept });
}

export class HlsRoomPackager {
  readonly room: string;
  readonly dir: string;
  readonly renditions: RenditionPackagers;
  readonly #root: string;
  /** The master last written to disk, bandwidth figures aside (they move with every segment). */
  #masterWrittenShape: string | undefined;
  #masterWrites: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: HlsRoomPackagerOptions) {
    const { root, room, renditions, ...common } = options;
    if (!ROOM_NAME_PATTERN.test(room)) throw new RangeError(`invalid room name ${JSON.stringify(room)}`);
    if (renditions.length === 0) throw new RangeError('at least one rendition is needed');
    this.room = room;
    this.#root = path.resolve(root);
    this.dir = path.join(this.#root, room);
    const packagers: Record<string, RenditionPackager> = {};
    const msnAligner = new MsnAligner();
    for (const spec of renditions) {
      if (!RENDITION_NAME_PATTERN.test(spec.name)) throw new RangeError(`invalid rendition name ${JSON.stringify(spec.name)}`);
      if (packagers[spec.name]) throw new RangeError(`duplicate rendition ${spec.name}`);
      const packagerOptions: RenditionPackagerOptions = { ...common, dir: path.join(this.dir, spec.name), name: spec.name, msnAligner, root: this.#root };
      const bandwidth = declaredBandwidth(spec);
      if (bandwidth !== undefined) packagerOptions.bandwidth = bandwidth;
      packagers[spec.name] = new RenditionPackager(packagerOptions);
    }
    this.renditions = packagers;
    for (const [name, packager] of Object.entries(packagers)) {
      const others = Object.entries(packagers).filter(([other]) => other !== name);
      packager.setRenditionReportSource(() => others.flatMap(([otherName, other]) => other.renditionReport(`../${otherName}/index.m3u8`) ?? []));
      // One write at a time (they share a temp name), each with the latest state.
      packager.on('published', () => {
        this.#masterWrites = this.#masterWrites.then(() => this.#maybeWriteMaster());
      });
    }
  }

  /** The master playlist, or undefined until the renditions are ready. */
  masterPlaylist(): string | undefined {
    return masterPlaylistFor(this.renditions);
  }

  /** The producer restarted: every rendition starts a discontinuity. */
  restart(): void {
    for (const packager of Object.values(this.renditions)) packager.restart();
  }

  async end(): Promise<void> {
    await Promise.all(Object.values(this.renditions).map((p) => p.end()));
  }

  /** Idempotent. `removeFiles` deletes the room's HLS files. */
  async close(options: { removeFiles?: boolean } = {}): Promise<void> {
    this.#closed = true;
    await Promise.all(Object.values(this.renditions).map((p) => p.close(options)));
    if (options.removeFiles && (await linkOnPath(this.#root, this.dir).catch(() => 'unreadable')) === undefined) {
      await fsp.rm(path.join(this.dir, MASTER_PLAYLIST_FILE), { force: true }).catch(() => undefined);
      await fsp.rmdir(this.dir).catch(() => undefined);
    }
  }

  /**
   * Writes the master once every rendition is ready, and again whenever its
   * variants change (the source's resolution changed and the renditions with it).
   */
  async #maybeWriteMaster(): Promise<void> {
    if (this.#closed) return;
    const all = Object.values(this.renditions);
    if (this.#masterWrittenShape === undefined && !all.every((p) => p.info() !== undefined)) return;
    const text = this.masterPlaylist();
    if (!text) return;
    const shape = text.replace(/BANDWIDTH=\d+/g, 'BANDWIDTH=n');
    if (shape === this.#masterWrittenShape) return;
    const previousShape = this.#masterWrittenShape;
    this.#masterWrittenShape = shape;
    const file = path.join(this.dir, MASTER_PLAYLIST_FILE);
    const tmp = `${path.join(this.dir, `.${MASTER_PLAYLIST_FILE}`)}.${process.pid}.tmp`;
    try {
      const link = await linkOnPath(this.#root, file);
      if (link !== undefined) throw new Error(`${link}; refusing to follow it`);
      // 'wx': never write through something planted at the temp name.
      await fsp.rm(tmp, { force: true });
      await fsp.writeFile(tmp, text, { flag: 'wx' });
      await fsp.rename(tmp, file);
    } catch (error) {
      this.#masterWrittenShape = previousShape;
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      const first = all[0];
      if (first && first.listenerCount('error') > 0) first.emit('error', error instanceof Error ? error : new Error(String(error)));
    }
  }
}
