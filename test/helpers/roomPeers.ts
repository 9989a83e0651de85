/**
 * The usual way into a room for a test that is not about the publisher: a
 * light headless publisher (640x360 at 600 kbit/s, a key frame a second, so
 * that dozens of viewers and the encoder share two cores with the SFU) and
 * viewers that join in small batches, as an audience arrives. A peer whose
 * publish or join fails is closed before the error is thrown, so after() has
 * only what was returned to close.
 */
import type { TokenService } from '../../server/auth/tokens.js';
import { HeadlessPublisher, HeadlessViewer } from './headlessPeer.js';

export const LIGHT_VIDEO = { width: 640, height: 360, bitrateKbps: 600, keyframeIntervalSec: 1 } as const;

/**
 * Publishes LIGHT_VIDEO (and audio) to `room` with a publisher token from
 * `issuer`, through `url` (default: the issuer's own; in a cluster any node
 * shares the secret).
 */
export async function publishLight(
  issuer: { url: string; tokens: TokenService },
  room: string,
  options: { url?: string; name?: string } = {},
): Promise<HeadlessPublisher> {
  const token = await issuer.tokens.issue({ room, role: 'publisher' }, 600);
  const publisher = new HeadlessPublisher({ url: options.url ?? issuer.url, room, token, name: options.name ?? 'publisher', video: LIGHT_VIDEO });
  try {
    await publisher.publish();
  } catch (error) {
    await publisher.close();
    throw error;
  }
  return publisher;
}

/** `count` viewers named `<prefix>-<i>` joined to `room` at `url`, `batch` at a time. */
export async function joinViewers(url: string, room: string, count: number, { prefix = 'viewer', batch = 5 } = {}): Promise<HeadlessViewer[]> {
  const viewers = Array.from({ length: count }, (_, i) => new HeadlessViewer({ url, room, name: `${prefix}-${i}` }));
  try {
    for (let i = 0; i < viewers.length; i += batch) await Promise.all(viewers.slice(i, i + batch).map((v) => v.join()));
  } catch (error) {
    await Promise.all(viewers.map((v) => v.close()));
    throw error;
  }
  return viewers;
}
