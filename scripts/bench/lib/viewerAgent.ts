/**
 * Child process of the viewers benchmark (scripts/bench/viewers.ts): runs a
 * share of the headless WebRTC viewers (test/helpers/headlessViewer.ts,
 * werift) so that their packet handling is spread over several Node event
 * loops instead of competing in the benchmark's own. Started with
 * child_process.fork; driven over IPC:
 *
 *   → { seq, type: 'join', url, room, ids }   join these viewers now (concurrently); replies at once
 *   → { seq, type: 'stats', resetLag }        per-viewer counters, event-loop delay, CPU
 *   → { seq, type: 'closeAll' }               close every viewer; replies when done
 *   ← { seq, ok: true, data } | { seq, ok: false, error }
 *
 * Exits when the parent goes away (IPC disconnect) or on 'exit'.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { HeadlessViewer } from '../../../test/helpers/headlessViewer.js';

export interface AgentViewerStats {
  id: number;
  /** The server's peer id (links the viewer to the server-side timeline). */
  peerId: string | null;
  /** Date.now() when join() was called. */
  startedAtWall: number;
  state: string;
  connectionState: string;
  /** join() call → join() resolved (signaling, transport, consume, SDP, resume). */
  joinMs: number | null;
  timeToFirstVideoPacketMs: number | null;
  timeToFirstKeyframeMs: number | null;
  error: string | null;
  video: { packets: number; bytes: number; lost: number; frames: number; completeFrames: number; keyframes: number };
  audio: { packets: number; bytes: number; lost: number };
  mimeType: string | null;
}

export interface AgentStats {
  pid: number;
  at: number;
  viewers: AgentViewerStats[];
  /** Event-loop delay since the last reset, ms (a loop that cannot keep up shows it here first). */
  loopDelayMs: { mean: number; p99: number; max: number };
}

type Request =
  | { seq: number; type: 'join'; url: string; room: string; ids: number[] }
  | { seq: number; type: 'stats'; resetLag?: boolean }
  | { seq: number; type: 'closeAll' }
  | { seq: number; type: 'exit' };

interface Entry {
  id: number;
  viewer: HeadlessViewer;
  startedAt: number;
  startedAtWall: number;
  joinMs: number | null;
  error: string | null;
}

const entries = new Map<number, Entry>();
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function reply(seq: number, payload: { ok: true; data?: unknown } | { ok: false; error: string }): void {
  if (process.connected) process.send?.({ seq, ...payload });
}

function join(url: string, room: string, id: number): void {
  const viewer = new HeadlessViewer({ url, room, name: `bench-viewer-${id}`, requestTimeoutMs: 20_000, connectTimeoutMs: 20_000 });
  const entry: Entry = { id, viewer, startedAt: performance.now(), startedAtWall: Date.now(), joinMs: null, error: null };
  entries.set(id, entry);
  viewer.join().then(
    () => {
      entry.joinMs = performance.now() - entry.startedAt;
    },
    (error: unknown) => {
      entry.error = error instanceof Error ? error.message : String(error);
    },
  );
}

function stats(resetLag: boolean): AgentStats {
  const viewers: AgentViewerStats[] = [];
  for (const entry of entries.values()) {
    const s = entry.viewer.stats();
    const video = s.consumers.find((c) => c.kind === 'video');
    viewers.push({
      id: entry.id,
      peerId: s.peerId ?? null,
      startedAtWall: entry.startedAtWall,
      state: s.state,
      connectionState: s.connectionState,
      joinMs: entry.joinMs,
      timeToFirstVideoPacketMs: s.timeToFirstVideoPacketMs ?? null,
      timeToFirstKeyframeMs: s.timeToFirstKeyframeMs ?? null,
      error: entry.error ?? (s.consumeErrors[0]?.error ? `consume: ${s.consumeErrors[0].error}` : null),
      video: {
        packets: s.video.packets,
        bytes: s.video.bytes,
        lost: s.video.lost,
        frames: s.video.frames,
        completeFrames: s.video.completeFrames,
        keyframes: s.video.keyframes,
      },
      audio: { packets: s.audio.packets, bytes: s.audio.bytes, lost: s.audio.lost },
      mimeType: video?.mimeType ?? null,
    });
  }
  const ns = (v: number) => (Number.isFinite(v) ? v / 1e6 : 0);
  const loopDelayMs = { mean: ns(loopDelay.mean), p99: ns(loopDelay.percentile(99)), max: ns(loopDelay.max) };
  if (resetLag) loopDelay.reset();
  return { pid: process.pid, at: Date.now(), viewers, loopDelayMs };
}

async function closeAll(): Promise<void> {
  const all = [...entries.values()];
  entries.clear();
  await Promise.all(all.map((e) => e.viewer.close().catch(() => undefined)));
}

process.on('message', (message: Request) => {
  const { seq } = message;
  switch (message.type) {
    case 'join':
      for (const id of message.ids) join(message.url, message.room, id);
      reply(seq, { ok: true });
      break;
    case 'stats':
      reply(seq, { ok: true, data: stats(Boolean(message.resetLag)) });
      break;
    case 'closeAll':
      closeAll().then(
        () => reply(seq, { ok: true }),
        (error: unknown) => reply(seq, { ok: false, error: String(error) }),
      );
      break;
    case 'exit':
      void closeAll().finally(() => process.exit(0));
      break;
  }
});

// The benchmark went away (finished, crashed, killed): never linger.
process.on('disconnect', () => {
  void closeAll().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 5_000).unref();
});
process.send?.({ seq: 0, ok: true, data: { ready: process.pid } });
