/**
 * LL-HLS players watched through one backup switch (the backup-switch bench):
 * `join()` starts N simulated players (scripts/loadtest/llHlsClient.ts) at the
 * live edge and waits until they play steadily; `finish()`, once the switch is
 * over, waits for each to have played fresh media again and reports the
 * stalls each had in between and how long they lasted. `report()` sums the
 * switches up against the issue's target: at most one stall per switch.
 */
import { LlHlsClient } from '../../loadtest/llHlsClient.js';
import { parseMaster, parseMediaPlaylist } from '../../loadtest/llHlsPlaylist.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { fmt, formatTable, summarize, type Summary } from './results.js';

/** Parts (250 ms) a player must have loaded before the switch counts as steady playback. */
const STEADY_PARTS = 8;
/** Media a player must play after the switch before its stalls are counted, so that a late one shows. */
const AFTER_SWITCH_MEDIA_S = 3;

export interface HlsPlayerSwitch {
  id: string;
  /** Stalls from the moment it played steadily before the switch until it played on after it. */
  stalls: number;
  /** Their total duration. */
  stallMs: number;
  /** Latency to live (EXT-X-PROGRAM-DATE-TIME) before the switch and after it, ms. */
  latencyBeforeMs: number | null;
  latencyAfterMs: number | null;
  errors: Record<string, number>;
}

/** The top rendition's LL-HLS timing, seconds: how far behind live players start. */
export interface PartTiming {
  partTarget: number | null;
  partHoldBack: number | null;
}

export interface HlsSwitchMeasure {
  players: HlsPlayerSwitch[];
  /** The playlist's timing when the players joined, and after the switch. */
  before: PartTiming;
  after: PartTiming;
}

/** PART-TARGET and PART-HOLD-BACK of the master's highest-bandwidth rendition now. */
async function partTiming(masterUrl: string): Promise<PartTiming> {
  try {
    const variants = parseMaster(await (await fetch(masterUrl)).text());
    const top = [...variants].sort((a, b) => b.bandwidth - a.bandwidth)[0];
    if (!top) return { partTarget: null, partHoldBack: null };
    const playlist = parseMediaPlaylist(await (await fetch(new URL(top.uri, masterUrl))).text());
    return { partTarget: playlist.partTarget ?? null, partHoldBack: playlist.partHoldBack ?? null };
  } catch {
    return { partTarget: null, partHoldBack: null };
  }
}

export class HlsSwitchPlayers {
  readonly #clients: LlHlsClient[];
  readonly #masterUrl: string;
  readonly #timing: PartTiming;
  readonly #baseline: Array<{ stalls: number; stallMs: number; latencyMs: number | null }>;
  #closed = false;

  private constructor(clients: LlHlsClient[], masterUrl: string, timing: PartTiming) {
    this.#clients = clients;
    this.#masterUrl = masterUrl;
    this.#timing = timing;
    this.#baseline = clients.map((c) => {
      const stats = c.stats();
      return { stalls: stats.stalls, stallMs: stats.stallMs, latencyMs: stats.latencyMs.at(-1) ?? null };
    });
  }

  /** Starts `count` players on `masterUrl` (top rendition) and resolves when every one plays steadily. */
  static async join(masterUrl: string, count: number, tag: string): Promise<HlsSwitchPlayers> {
    const clients = Array.from({ length: count }, (_, i) => new LlHlsClient({ masterUrl, id: `${tag}-${i}`, variant: 'highest' }));
    for (const client of clients) client.start();
    try {
      await waitFor(
        () =>
          clients.every((c) => {
            const stats = c.stats();
            return stats.state === 'playing' && stats.parts >= STEADY_PARTS;
          }),
        {
          description: `${count} LL-HLS players to play steadily`,
          timeoutMs: 20_000,
          progressEveryMs: 0,
          progress: () => JSON.stringify(clients.map((c) => ({ state: c.stats().state, parts: c.stats().parts, errors: c.stats().errors }))),
        },
      );
    } catch (error) {
      await Promise.all(clients.map((c) => c.close()));
      throw error;
    }
    return new HlsSwitchPlayers(clients, masterUrl, await partTiming(masterUrl));
  }

  /** After the switch: waits until every player has played on, then closes them and reports. */
  async finish(timeoutMs = 20_000): Promise<HlsSwitchMeasure> {
    const loadedAtCall = this.#clients.map((c) => c.stats().mediaSeconds);
    await waitFor(
      () =>
        this.#clients.every((c, i) => {
          const stats = c.stats();
          return stats.state === 'playing' && stats.mediaSeconds >= loadedAtCall[i]! + AFTER_SWITCH_MEDIA_S;
        }),
      {
        description: `every LL-HLS player to play ${AFTER_SWITCH_MEDIA_S} s of media after the switch`,
        timeoutMs,
        progressEveryMs: 0,
        progress: () => JSON.stringify(this.#clients.map((c) => ({ state: c.stats().state, media: c.stats().mediaSeconds }))),
      },
    ).catch(() => undefined); // a player that never resumed shows as stalled at close()
    await this.close();
    return {
      before: this.#timing,
      after: await partTiming(this.#masterUrl),
      players: this.#clients.map((client, i) => {
        const stats = client.stats();
        const before = this.#baseline[i]!;
        return {
          id: stats.id,
          stalls: stats.stalls - before.stalls,
          stallMs: stats.stallMs - before.stallMs,
          latencyBeforeMs: before.latencyMs,
          latencyAfterMs: stats.latencyMs.at(-1) ?? null,
          errors: stats.errors,
        };
      }),
    };
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#clients.map((c) => c.close()));
  }

  /** Stalls per player and switch against the target (≤ 1), as a table and as figures. */
  static report(measures: readonly HlsSwitchMeasure[]): {
    text: string;
    figures: {
      playerSwitches: number;
      stallsPerSwitch: Record<string, number>;
      maxStalls: number;
      stallMs: Summary;
      latencyAddedMs: Summary;
      /** PART-TARGET / PART-HOLD-BACK when each switch's players joined (s). */
      timingAtJoin: PartTiming[];
    };
    pass: boolean;
  } {
    const all = measures.flatMap((m) => m.players);
    const stallsPerSwitch: Record<string, number> = { '0': 0, '1': 0, '2+': 0 };
    for (const p of all) stallsPerSwitch[p.stalls === 0 ? '0' : p.stalls === 1 ? '1' : '2+']!++;
    const maxStalls = Math.max(0, ...all.map((p) => p.stalls));
    const stallMs = summarize(all.filter((p) => p.stalls > 0).map((p) => p.stallMs));
    const latencyAddedMs = summarize(
      all.filter((p) => p.latencyBeforeMs !== null && p.latencyAfterMs !== null).map((p) => p.latencyAfterMs! - p.latencyBeforeMs!),
    );
    const errors = all.reduce<Record<string, number>>((acc, p) => {
      for (const [kind, n] of Object.entries(p.errors)) acc[kind] = (acc[kind] ?? 0) + n;
      return acc;
    }, {});
    const pass = all.length > 0 && maxStalls <= 1;
    const text =
      formatTable(
        ['player × switch', 'no stall', 'one stall', 'two or more', 'stall ms p50 / p95 / max', 'latency added p50 / max', 'at most one stall'],
        [
          [
            String(all.length),
            String(stallsPerSwitch['0']),
            String(stallsPerSwitch['1']),
            String(stallsPerSwitch['2+']),
            `${fmt(stallMs.p50, 0)} / ${fmt(stallMs.p95, 0)} / ${fmt(stallMs.max, 0)}`,
            `${fmt(latencyAddedMs.p50, 0)} / ${fmt(latencyAddedMs.max, 0)}`,
            pass ? 'yes' : `NO (max ${maxStalls})`,
          ],
        ],
      ) +
      `\nPART-TARGET / PART-HOLD-BACK (s) when each switch's players joined: ${measures.map((m) => `${fmt(m.before.partTarget, 3)}/${fmt(m.before.partHoldBack, 2)}`).join(', ')}` +
      `; after the last switch ${fmt(measures.at(-1)?.after.partTarget, 3)}/${fmt(measures.at(-1)?.after.partHoldBack, 2)}` +
      (Object.keys(errors).length ? `\nplayer errors: ${JSON.stringify(errors)}` : '');
    const timingAtJoin = measures.map((m) => m.before);
    return { text, figures: { playerSwitches: all.length, stallsPerSwitch, maxStalls, stallMs, latencyAddedMs, timingAtJoin }, pass };
  }
}
