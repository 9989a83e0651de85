/**
 * What an HLS room really serves, measured from outside: the master
 * playlist's variants, and the picture size of a rendition's newest complete
 * segment as ffprobe reads it (init section + segment), not as the playlist
 * claims it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

export interface MasterVariant {
  uri: string;
  /** RESOLUTION= of the variant, e.g. "1280x720"; undefined when absent. */
  resolution: string | undefined;
}

/** The master's variants, or undefined when it does not answer 200. */
export async function masterVariants(masterUrl: string): Promise<MasterVariant[] | undefined> {
  const res = await fetch(masterUrl);
  if (res.status !== 200) return undefined;
  const lines = (await res.text()).split('\n');
  const variants: MasterVariant[] = [];
  lines.forEach((line, i) => {
    if (line.startsWith('#EXT-X-STREAM-INF:')) variants.push({ uri: (lines[i + 1] ?? '').trim(), resolution: /RESOLUTION=(\d+x\d+)/.exec(line)?.[1] });
  });
  return variants;
}

export const heightOf = (size: string | undefined | null): number => Number(size?.split('x')[1] ?? Number.NaN);

/**
 * "WxH" of the newest complete segment of the media playlist at `mediaUrl`,
 * by ffprobe; undefined while it has no complete segment. `scratchFile` is
 * overwritten.
 */
export async function probeNewestSegmentSize(mediaUrl: string, scratchFile: string): Promise<string | undefined> {
  const res = await fetch(mediaUrl);
  if (res.status !== 200) return undefined;
  let map: string | undefined;
  let newest: { map: string; segment: string } | undefined;
  for (const line of (await res.text()).split('\n')) {
    const mapUri = /^#EXT-X-MAP:URI="([^"]+)"/.exec(line)?.[1];
    if (mapUri) map = mapUri;
    else if (line && !line.startsWith('#') && map) newest = { map, segment: line.trim() };
  }
  if (!newest) return undefined;
  const base = mediaUrl.slice(0, mediaUrl.lastIndexOf('/') + 1);
  const [init, segment] = await Promise.all([fetch(new URL(newest.map, base)), fetch(new URL(newest.segment, base))]);
  if (init.status !== 200 || segment.status !== 200) return undefined;
  fs.mkdirSync(path.dirname(scratchFile), { recursive: true });
  fs.writeFileSync(scratchFile, Buffer.concat([Buffer.from(await init.arrayBuffer()), Buffer.from(await segment.arrayBuffer())]));
  const { stdout } = await promisify(execFile)(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0:s=x', scratchFile],
    { timeout: 10_000 },
  );
  return stdout.trim() || undefined;
}
