/**
 * A live room with LL-HLS on a test server: a headless publisher (ffmpeg
 * H.264 test pattern, so the top rendition is a copy and costs little CPU)
 * and a wait until the master and every media playlist list parts.
 */
import type { FloodlightServer } from '../../server/app.js';
import { HeadlessPublisher } from './headlessPeer.js';
import { waitFor } from './wait.js';

export interface LiveHlsRoom {
  publisher: HeadlessPublisher;
  masterPath: string;
  /** Media playlist paths listed by the master. */
  mediaPaths: string[];
}

export async function startLiveHlsRoom(server: FloodlightServer, room: string, options: { timeoutMs?: number } = {}): Promise<LiveHlsRoom> {
  const token = await server.tokens.issue({ room, role: 'publisher' }, 3600);
  const publisher = new HeadlessPublisher({
    url: server.url,
    room,
    token,
    video: { codec: 'H264', width: 1280, height: 720, bitrateKbps: 1200, keyframeIntervalSec: 1 },
  });
  try {
    await publisher.publish();
    const masterPath = `/hls/${room}/index.m3u8`;
    const master = await waitFor(
      async () => {
        const response = await fetch(`${server.url}${masterPath}`);
        return response.status === 200 ? response.text() : undefined;
      },
      { description: `the master playlist of ${room}`, timeoutMs: options.timeoutMs ?? 30_000 },
    );
    const mediaPaths = master
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((uri) => `/hls/${room}/${uri.trim()}`);
    for (const mediaPath of mediaPaths) {
      await waitFor(
        async () => {
          const response = await fetch(`${server.url}${mediaPath}`);
          const text = response.status === 200 ? await response.text() : '';
          // Settled: parts, and two complete segments (the first seconds of a
          // stream may see the recorder re-planned once the source is known).
          return text.includes('#EXT-X-PART:') && text.split('#EXTINF:').length > 2;
        },
        { description: `parts and two segments in ${mediaPath}`, timeoutMs: options.timeoutMs ?? 30_000 },
      );
    }
    return { publisher, masterPath, mediaPaths };
  } catch (error) {
    await publisher.close();
    throw error;
  }
}
