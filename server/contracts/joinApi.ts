/**
 * Placement for clients: which node a join should go to, and where to go when
 * that node is gone. Type-only (the SDK imports it).
 *
 *   GET /api/rooms/:room/join?role=viewer|publisher[&region=<label>]   (public, any origin)
 *     200 → JoinPlacementResponse
 *     400 BAD_REQUEST (room id, role or region malformed)
 *     503 UNAVAILABLE (no node can take the join; Retry-After: 1)
 *
 * The same placement reaches clients already connected to a node, in the
 * signaling join answer (`JoinRedirect`) and the `move` server event.
 */

/** Where to join. URLs are nodes' public base URLs (no trailing slash). */
export interface JoinPlacementResponse {
  /** The chosen node's id. */
  node: string;
  /** Its public URL: the socket.io and HTTP base for this join. */
  url: string;
  /** Other nodes that can take the join, best first: where to go when `url` stops answering. */
  alternates: string[];
}

/** Region labels as nodes announce them (REGION). */
export const REGION_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** The join endpoint's path for a room. */
export function joinPlacementPath(room: string, role: 'viewer' | 'publisher', region?: string): string {
  const query = new URLSearchParams({ role, ...(region ? { region } : {}) });
  return `/api/rooms/${encodeURIComponent(room)}/join?${query.toString()}`;
}
