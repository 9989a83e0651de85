/**
 * HLS start-up and ladder at go-live (issue 13), over --golives go-lives of a
 * Chromium publisher: the real /broadcast page with Chromium's fake camera
 * (1280x720, simulcast, VP8), going live with autostart. Per go-live:
 *
 * 1. go-live → playing: the moment the broadcast page turns live (its
 *    <main data-state="live">, i.e. publish() resolved), a /watch?transport=hls
 *    page (hls.js) is opened; time until its first frame is presented after
 *    'playing' (the picture moves). The page's own marks split it: /api/rooms,
 *    master 200, media playlist 200, first init section, first part, canplay.
 * 2. ladder: --settle s after going live, the master's top rendition's size
 *    measured by ffprobe of its newest segment against the source's size (the
 *    publisher's top outbound-rtp layer, getStats()). Also the re-plans the
 *    server counted (a late top layer re-plans the ladder).
 * 3. join → playing: a second /watch?transport=hls page opened on the running
 *    stream; navigation start → first frame after 'playing'.
 *
 * One browser; at most the publisher and one player page at a time.
 *
 *   bash scripts/bench/run hls-startup [--golives=20] [--settle=10] [--play-timeout=20]
 *
 * Targets: ladder matches the source in 100 % of go-lives; go-live → playing
 * p95 ≤ 3 s; join → playing p95 ≤ 1.5 s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../../test/helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../../test/helpers/chromium.js';
import { browserScript } from './lib/browserBundle.js';
import { heightOf, masterVariants, probeNewestSegmentSize } from './lib/hlsProbe.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { fmt, formatTable, numberArg, parseArgs, progress, summarize, writeResult } from './lib/results.js';
import { allowNodeFunctions, instrumentPlayerPage, readStartupMarks, type StartupMarks } from './lib/startupMarks.js';
import { exitAfter } from './lib/benchMain.js';

const NAME = 'hls-startup';
const TARGET_GO_LIVE_P95_MS = 3_000;
const TARGET_JOIN_P95_MS = 1_500;

const args = parseArgs(process.argv.slice(2), ['golives', 'settle', 'play-timeout']);
const GO_LIVES = Math.round(numberArg(args, 'golives', 20));
const SETTLE_MS = numberArg(args, 'settle', 10) * 1000;
const PLAY_TIMEOUT_MS = numberArg(args, 'play-timeout', 20) * 1000;

interface PlayerRun {
  /** ms from the reference (go-live, or page open) to each mark; null: not reached. */
  playingMs: number | null;
  marks: Partial<
    Record<'opened' | 'roomsApi' | 'masterRequested' | 'masterOk' | 'mediaPlaylistOk' | 'initOk' | 'firstPartOk' | 'canplay' | 'playingEvent', number | null>
  >;
  masterStatuses: Record<string, number>;
  framesDecoded: number;
  /** The page's /api and /hls requests, ms from the reference: [path, start, end, status]. */
  requests: Array<[string, number, number, number]>;
  error?: string;
}

interface GoLiveRun {
  room: string;
  loadAverage1m: number;
  goLive: PlayerRun | null;
  join: PlayerRun | null;
  /** The publisher's top outbound layer at the ladder check, "WxH". */
  sourceSize: string | null;
  /** Top rendition: as the master says it, and as ffprobe measured its newest segment. */
  topRenditionListed: string | null;
  topRenditionMeasured: string | null;
  renditions: string[];
  ladderMatches: boolean;
  ladderReplans: number | null;
  error?: string;
}

const since = (reference: number, at: number | null) => (at === null ? null : Math.round(at - reference));

function playerRun(marks: StartupMarks, reference: number): PlayerRun {
  return {
    playingMs: since(reference, marks.firstFrameAt),
    marks: {
      opened: since(reference, marks.openedAt),
      roomsApi: since(reference, marks.roomsApiAt),
      masterRequested: since(reference, marks.masterRequestedAt),
      masterOk: since(reference, marks.masterOkAt),
      mediaPlaylistOk: since(reference, marks.mediaPlaylistOkAt),
      initOk: since(reference, marks.initOkAt),
      firstPartOk: since(reference, marks.firstPartOkAt),
      canplay: since(reference, marks.canplayAt),
      playingEvent: since(reference, marks.playingAt),
    },
    masterStatuses: marks.masterStatuses,
    framesDecoded: marks.framesDecoded,
    requests: marks.requests.map((r) => [r.path, Math.round(r.start - reference), Math.round(r.end - reference), r.status]),
  };
}

/** Opens the HLS watch page in `page` and waits for its first frame after 'playing'. */
async function watchUntilPlaying(page: Page, url: string, reference: () => number): Promise<PlayerRun> {
  await page.goto(url);
  const deadline = Date.now() + PLAY_TIMEOUT_MS;
  let marks = await readStartupMarks(page);
  while (marks.firstFrameAt === null && Date.now() < deadline) {
    await sleep(100);
    marks = await readStartupMarks(page);
  }
  const run = playerRun(marks, reference() || marks.openedAt);
  if (marks.transport !== 'hls') run.error = `the page played over ${marks.transport ?? '?'}, not HLS`;
  else if (marks.firstFrameAt === null) run.error = `not playing after ${PLAY_TIMEOUT_MS / 1000} s`;
  return run;
}

async function publisherTopLayer(page: Page): Promise<string | null> {
  type Snapshot = { outboundVideo: Array<{ frameWidth: number | null; frameHeight: number | null }> };
  const snapshot = await page.evaluate(() => (window as unknown as { __bench: { stats: { snapshot: () => Promise<Snapshot> } } }).__bench.stats.snapshot());
  const top = [...snapshot.outboundVideo].sort((a, b) => (b.frameWidth ?? 0) - (a.frameWidth ?? 0))[0];
  return top?.frameWidth ? `${top.frameWidth}x${top.frameHeight}` : null;
}

async function goLiveOnce(server: FloodlightServer, chromium: LaunchedChromium, statsScript: string, scratch: string, index: number): Promise<GoLiveRun> {
  const room = `bench-hls-start-${index}-${Date.now().toString(36)}`;
  const result: GoLiveRun = {
    room,
    loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)),
    goLive: null,
    join: null,
    sourceSize: null,
    topRenditionListed: null,
    topRenditionMeasured: null,
    renditions: [],
    ladderMatches: false,
    ladderReplans: null,
  };
  const token = await server.tokens.issue({ room, role: 'publisher' }, 3600);
  const watchUrl = `${server.url}/watch?room=${room}&transport=hls`;
  const publisher = await chromium.context.newPage();
  let player: Page | null = null;
  try {
    await allowNodeFunctions(publisher);
    await publisher.addInitScript(statsScript);
    // The moment the page turns live, in the page's clock.
    await publisher.addInitScript(() => {
      const w = window as unknown as { __liveAt?: number };
      new MutationObserver(() => {
        if (w.__liveAt === undefined && document.querySelector('main[data-state="live"]')) w.__liveAt = performance.timeOrigin + performance.now();
      }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
    });
    player = await chromium.context.newPage();
    await instrumentPlayerPage(player);
    await publisher.goto(`${server.url}/broadcast?room=${room}&token=${token}&autostart=1`);
    // Functions, not strings: the page's CSP forbids string evaluation.
    const liveHandle = await publisher.waitForFunction(() => (window as unknown as { __liveAt?: number }).__liveAt, undefined, {
      timeout: 20_000,
      polling: 10,
    });
    const liveAt = Number(await liveHandle.jsonValue());

    // 1. A player opened as the stream goes live.
    result.goLive = await watchUntilPlaying(player, watchUrl, () => liveAt);
    await player.close();
    player = null;

    // 2. The ladder once settled.
    await sleep(Math.max(0, liveAt + SETTLE_MS - Date.now()));
    result.sourceSize = await publisherTopLayer(publisher);
    const variants = (await masterVariants(`${server.url}/hls/${room}/index.m3u8`)) ?? [];
    result.renditions = variants.map((v) => v.resolution ?? '?');
    const top = [...variants].sort((a, b) => heightOf(b.resolution) - heightOf(a.resolution))[0];
    if (top) {
      result.topRenditionListed = top.resolution ?? null;
      result.topRenditionMeasured = (await probeNewestSegmentSize(`${server.url}/hls/${room}/${top.uri}`, path.join(scratch, 'top.mp4'))) ?? null;
    }
    result.ladderMatches = result.sourceSize !== null && result.topRenditionMeasured === result.sourceSize;
    result.ladderReplans = server.hls?.status(room)?.ladderReplans ?? null;

    // 3. A viewer joining the running stream.
    player = await chromium.context.newPage();
    await instrumentPlayerPage(player);
    result.join = await watchUntilPlaying(player, watchUrl, () => 0);
  } catch (error) {
    result.error = error instanceof Error ? error.message.split('\n')[0] : String(error);
  } finally {
    await player?.close().catch(() => undefined);
    await publisher.close().catch(() => undefined);
  }
  return result;
}

function describeRun(r: GoLiveRun): string {
  if (r.error) return `FAILED: ${r.error}`;
  const m = r.goLive?.marks ?? {};
  return (
    `go-live → playing ${fmt(r.goLive?.playingMs, 0)} ms (page ${fmt(m.opened, 0)}, master 200 ${fmt(m.masterOk, 0)}, ` +
    `media ${fmt(m.mediaPlaylistOk, 0)}, part ${fmt(m.firstPartOk, 0)}, canplay ${fmt(m.canplay, 0)}); ` +
    `ladder ${r.renditions.join(',')} top measured ${r.topRenditionMeasured ?? '—'} vs source ${r.sourceSize ?? '—'} ` +
    `(${r.ladderMatches ? 'match' : 'MISMATCH'}, ${r.ladderReplans ?? '?'} re-plans); join → playing ${fmt(r.join?.playingMs, 0)} ms` +
    (r.goLive?.error ? `; go-live player: ${r.goLive.error}` : '') +
    (r.join?.error ? `; join player: ${r.join.error}` : '')
  );
}

const MARK_COLUMNS = ['opened', 'roomsApi', 'masterOk', 'mediaPlaylistOk', 'initOk', 'firstPartOk', 'canplay', 'playingEvent'] as const;

/** p50 / p95 of the players' marks and result. */
function breakdown(label: string, runs: PlayerRun[], target: number): string[] {
  const cell = (values: Array<number | null | undefined>) => {
    const s = summarize(values.map((v) => v ?? Number.NaN));
    return `${fmt(s.p50, 0)} / ${fmt(s.p95, 0)}`;
  };
  const playing = summarize(runs.map((r) => (r.error ? Number.NaN : (r.playingMs ?? Number.NaN))));
  const failed = runs.filter((r) => r.error).length;
  const verdict =
    failed > 0
      ? `NOT MET (${failed} of ${runs.length} never played)`
      : playing.p95 <= target
        ? `met (p95 ≤ ${target} ms)`
        : `NOT MET (p95 ${fmt(playing.p95, 0)} ms)`;
  return [
    label,
    String(runs.length),
    ...MARK_COLUMNS.map((key) => cell(runs.map((r) => r.marks[key]))),
    `${fmt(playing.p50, 0)} / ${fmt(playing.p95, 0)} / ${fmt(playing.max, 0)}`,
    verdict,
  ];
}

async function main(): Promise<void> {
  const run = new BenchRun(NAME, (90 + GO_LIVES * (SETTLE_MS / 1000 + 2 * (PLAY_TIMEOUT_MS / 1000) + 30)) * 1000);
  progress(
    NAME,
    `load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')} on ${os.availableParallelism()} cores; ${GO_LIVES} go-lives`,
  );
  try {
    const scratch = run.defer('scratch dir', fs.mkdtempSync(path.join(os.tmpdir(), 'bench-hls-startup-')), (dir) =>
      fs.rmSync(dir, { recursive: true, force: true }),
    );
    const statsScript = await browserScript('webrtcLatencyPage.js');
    const chromium = run.defer('chromium', await launchChromium(), (c) => c.close());
    const machine = machineInfo(chromium.browser.version());
    progress(NAME, `machine: ${describeMachine(machine)}`);
    const server = run.defer('server', await startTestServer(), (s) => s.close());
    const ladder = server.config.hls.renditions.map((r) => r.name).join(',');
    progress(NAME, `server with HLS renditions ${ladder}, ${server.pool.size} workers`);

    const runs: GoLiveRun[] = [];
    for (let i = 0; i < GO_LIVES; i++) {
      const r = await goLiveOnce(server, chromium, statsScript, scratch, i);
      runs.push(r);
      progress(NAME, `[${i + 1}/${GO_LIVES}] load ${r.loadAverage1m.toFixed(2)}: ${describeRun(r)}`);
      // The room closes (grace 1 s) and its recorder stops before the next go-live.
      const deadline = Date.now() + 15_000;
      while (server.hls?.status(r.room) && Date.now() < deadline) await sleep(200);
    }
    const loadAfter = os.loadavg();

    const completed = runs.filter((r) => !r.error);
    const matches = completed.filter((r) => r.ladderMatches).length;
    const share = completed.length ? (100 * matches) / completed.length : Number.NaN;
    const tables: string[] = [];
    tables.push(`Ladder ${SETTLE_MS / 1000} s after going live (top rendition measured by ffprobe vs the publisher's top outbound layer):\n`);
    const sizes = (pick: (r: GoLiveRun) => string | null) =>
      Object.entries(completed.reduce<Record<string, number>>((acc, r) => ({ ...acc, [pick(r) ?? '—']: (acc[pick(r) ?? '—'] ?? 0) + 1 }), {}))
        .map(([size, n]) => `${size}×${n}`)
        .join(', ');
    tables.push(
      formatTable(
        ['go-lives', 'source top layer', 'top rendition measured', 'ladders listed', 'with a re-plan', 'matches the source', 'target 100 %'],
        [
          [
            `${completed.length}${runs.length > completed.length ? ` (+${runs.length - completed.length} failed)` : ''}`,
            sizes((r) => r.sourceSize),
            sizes((r) => r.topRenditionMeasured),
            sizes((r) => r.renditions.join(',')),
            String(completed.filter((r) => (r.ladderReplans ?? 0) > 0).length),
            `${matches} (${fmt(share, 0)} %)`,
            matches === completed.length && completed.length > 0 ? 'met' : `NOT MET (${fmt(share, 0)} %)`,
          ],
        ],
      ),
    );
    tables.push(
      '\nStart-up (ms, p50 / p95): go-live → each mark for a page opened as the broadcast turns live; page open → each mark for a viewer joining ' +
        'the running stream. "playing" = first frame presented after the \'playing\' event (p50 / p95 / max):\n',
    );
    tables.push(
      formatTable(
        ['player', 'runs', 'page open', '/api/rooms', 'master 200', 'media playlist 200', 'init', 'first part', 'canplay', "'playing'", 'playing', 'target'],
        [
          breakdown(
            'opened at go-live',
            completed.flatMap((r) => (r.goLive ? [r.goLive] : [])),
            TARGET_GO_LIVE_P95_MS,
          ),
          breakdown(
            'joins a running stream',
            completed.flatMap((r) => (r.join ? [r.join] : [])),
            TARGET_JOIN_P95_MS,
          ),
        ],
      ),
    );
    const masterAnswers = completed
      .flatMap((r) => [r.goLive, r.join])
      .reduce<Record<string, number>>((acc, p) => {
        for (const [status, n] of Object.entries(p?.masterStatuses ?? {})) acc[status] = (acc[status] ?? 0) + n;
        return acc;
      }, {});
    const answers = Object.entries(masterAnswers)
      .map(([status, n]) => `${status}×${n}`)
      .join(', ');
    tables.push(`\nMaster answers before its first 200 (all players): ${answers || 'none'}`);

    const file = writeResult(NAME, {
      benchmark: NAME,
      command: `bash scripts/bench/run ${NAME} ${process.argv.slice(2).join(' ')}`.trim(),
      targets: { ladderMatchesPercent: 100, goLiveToPlayingP95Ms: TARGET_GO_LIVE_P95_MS, joinToPlayingP95Ms: TARGET_JOIN_P95_MS },
      config: { goLives: GO_LIVES, settleMs: SETTLE_MS, playTimeoutMs: PLAY_TIMEOUT_MS, ladder },
      machine,
      loadAverageAfter: loadAfter.map((v) => Number(v.toFixed(2))),
      runs,
    });
    console.log(`\nHLS start-up and ladder at go-live (${GO_LIVES} go-lives, /broadcast page with the fake camera, renditions ${ladder})`);
    console.log(`${machine.date.slice(0, 10)} · ${describeMachine(machine)} · load after ${loadAfter.map((v) => v.toFixed(2)).join(' ')}\n`);
    console.log(tables.join('\n'));
    console.log(`\nresults: ${file}`);
  } finally {
    await run.cleanup();
  }
}

await exitAfter(NAME, main);
