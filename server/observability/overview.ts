/**
 * Bounds of the operator overview (GET /api/admin/overview and the /admin
 * socket's `overview` event). Its shape is a wire contract with the
 * dashboard: `Overview` in server/contracts/adminApi.ts.
 */

/** Rooms listed in the overview (live first, then by audience); the rest are counted in totals. */
export const OVERVIEW_MAX_ROOMS = 50;
/** Resolved alerts in the overview, newest first. */
export const OVERVIEW_RECENT_ALERTS = 50;
