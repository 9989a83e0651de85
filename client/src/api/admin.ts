/** The operator APIs the dashboard reads (shapes: server/contracts/adminApi.ts). */
import type { AlertsResponse, Overview, RoomStats } from '../../../server/contracts/adminApi';
import type { ClusterOverview, RuntimeSettingsSnapshot } from '../../../server/contracts/clusterApi';
import { getJson } from './http';

const REQUEST_TIMEOUT_MS = 5_000;

export function fetchOverview(token: string, signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)): Promise<Overview> {
  return getJson<Overview>('/api/admin/overview', { token, signal });
}

export function fetchAlerts(token: string, signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)): Promise<AlertsResponse> {
  return getJson<AlertsResponse>('/api/admin/alerts', { token, signal });
}

export function fetchRoomStats(room: string, signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)): Promise<RoomStats> {
  return getJson<RoomStats>(`/api/rooms/${encodeURIComponent(room)}/stats`, { signal });
}

export function fetchCluster(token: string, signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)): Promise<ClusterOverview> {
  return getJson<ClusterOverview>('/api/cluster', { token, signal });
}

export function fetchSettings(token: string, signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)): Promise<RuntimeSettingsSnapshot> {
  return getJson<RuntimeSettingsSnapshot>('/api/settings', { token, signal });
}
