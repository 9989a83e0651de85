/**
 * Bounds of the per-room stats document (GET /api/rooms/:room/stats, the
 * admin overview and the /admin socket). Its shape is a wire contract with
 * the dashboard: `RoomStats` in server/contracts/adminApi.ts.
 */

/** At most this many history points (5 min at the default 2 s interval). */
export const HISTORY_POINTS = 150;
