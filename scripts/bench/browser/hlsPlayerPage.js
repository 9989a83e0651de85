// @ts-check
/**
 * Page side of the HLS latency benchmark (scripts/bench/hls-latency.ts),
 * bundled into an IIFE and injected with page.addInitScript next to
 * webrtcLatencyPage.js (whose `sink` decodes the frame timestamps). On
 * `window.__benchHls`:
 *
 *   player.start({ url, config, top })  a bare hls.js player on `#video`, for the
 *                                       classic (non-low-latency) case; hls.js is
 *                                       the package the client bundles (hls.js/light,
 *                                       same version), so only its config differs
 *   sampler.start(source)               every 500 ms while recording: hls.js's own
 *                                       view (latency to the live edge, target,
 *                                       playback rate, buffer ahead, the playhead's
 *                                       EXT-X-PROGRAM-DATE-TIME) of the watch page's
 *                                       player (source 'watch': window.floodlight.hls)
 *                                       or of player (source 'classic')
 *   sampler.setRecording(bool), sampler.results()
 */
import Hls from 'hls.js/light';

const clock = () => performance.timeOrigin + performance.now();

/** @returns {HTMLVideoElement} */
function videoElement() {
  const video = /** @type {HTMLVideoElement | null} */ (document.querySelector('#video'));
  if (!video) throw new Error('no #video on this page');
  return video;
}

const player = {
  hls: /** @type {Hls | null} */ (null),
  /** Non-fatal and fatal errors seen, by type/details. */
  errors: /** @type {Record<string, number>} */ ({}),
  recoveries: 0,
  levelHeights: /** @type {number[]} */ ([]),

  /** @param {{ url: string, config: Record<string, unknown>, top?: boolean }} options */
  start(options) {
    if (!Hls.isSupported()) throw new Error('hls.js is not supported in this browser (no MediaSource)');
    const video = videoElement();
    const hls = new Hls(/** @type {any} */ (options.config));
    player.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      player.levelHeights = hls.levels.map((l) => l.height || 0);
      if (options.top) {
        // The top rendition, as the watch page's quality "High" does.
        let top = 0;
        hls.levels.forEach((level, i) => {
          if ((level.height || 0) > (hls.levels[top]?.height || 0)) top = i;
        });
        hls.loadLevel = top;
      }
      video.play().catch(() => undefined);
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      const key = `${data.fatal ? 'fatal ' : ''}${data.type}/${data.details}`;
      player.errors[key] = (player.errors[key] ?? 0) + 1;
      if (!data.fatal) return;
      player.recoveries++;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else setTimeout(() => hls.startLoad(), 1000);
    });
    hls.loadSource(options.url);
    hls.attachMedia(video);
    return { version: Hls.version };
  },
};

/**
 * @typedef {{
 *   at: number, latency: number | null, targetLatency: number | null, drift: number | null,
 *   playbackRate: number, bufferAhead: number | null, behindProgramDateMs: number | null,
 *   levelHeight: number | null, currentTime: number
 * }} HlsSample
 */

/**
 * A part or segment hls.js loaded: when its last byte arrived and where it sits on the
 * media timeline (known once buffered), to tell for each presented frame when it
 * reached the player.
 * @typedef {{ kind: 'part' | 'segment', sn: number, index: number, loadedAt: number, start: number | null, duration: number, bufferedAt: number | null }} Load
 */

const sampler = {
  source: /** @type {'watch' | 'classic'} */ ('watch'),
  /** @type {Load[]} */
  loads: [],
  /** @type {Hls | null} */
  attached: null,

  /** Follows the loads of `hls` (again after the page replaced its player). @param {Hls | null} hls */
  attach(hls) {
    if (!hls || hls === sampler.attached) return;
    sampler.attached = hls;
    hls.on(Hls.Events.FRAG_LOADED, (_event, data) => {
      const item = data.part ?? data.frag;
      const end = item.stats.loading.end;
      sampler.loads.push({
        kind: data.part ? 'part' : 'segment',
        sn: typeof data.frag.sn === 'number' ? data.frag.sn : -1,
        index: data.part ? data.part.index : -1,
        loadedAt: end > 0 ? performance.timeOrigin + end : clock(),
        start: null,
        duration: item.duration,
        bufferedAt: null,
      });
      if (sampler.loads.length > 3000) sampler.loads.splice(0, 1000);
    });
    hls.on(Hls.Events.FRAG_BUFFERED, (_event, data) => {
      const item = data.part ?? data.frag;
      const sn = typeof data.frag.sn === 'number' ? data.frag.sn : -1;
      const index = data.part ? data.part.index : -1;
      const load = sampler.loads.findLast((l) => l.sn === sn && l.index === index);
      if (!load) return;
      load.start = item.start;
      load.duration = item.duration;
      const end = data.stats.buffering.end;
      load.bufferedAt = end > 0 ? performance.timeOrigin + end : clock();
    });
  },
  recording: false,
  /** @type {HlsSample[]} */
  samples: [],
  /** 'waiting' events of the video while recording (playback stalled for want of data). */
  waiting: 0,
  started: false,

  /** @returns {Hls | null} */
  hls() {
    if (sampler.source === 'classic') return player.hls;
    return /** @type {any} */ (window).floodlight?.hls ?? null;
  },

  /** @param {'watch' | 'classic'} source */
  start(source) {
    sampler.source = source;
    if (sampler.started) return;
    sampler.started = true;
    const video = videoElement();
    video.addEventListener('waiting', () => {
      if (sampler.recording) sampler.waiting++;
    });
    sampler.attach(sampler.hls());
    setInterval(() => {
      sampler.attach(sampler.hls());
      if (!sampler.recording) return;
      const hls = sampler.hls();
      const buffered = video.buffered;
      let bufferAhead = null;
      for (let i = 0; i < buffered.length; i++) {
        if (buffered.start(i) <= video.currentTime + 0.1 && buffered.end(i) >= video.currentTime) bufferAhead = buffered.end(i) - video.currentTime;
      }
      const playingDate = hls?.playingDate ?? null;
      const level = hls && hls.currentLevel >= 0 ? hls.levels[hls.currentLevel] : undefined;
      sampler.samples.push({
        at: clock(),
        latency: hls && hls.latency > 0 ? hls.latency : null,
        targetLatency: hls?.targetLatency ?? null,
        drift: hls?.drift ?? null,
        playbackRate: video.playbackRate,
        bufferAhead,
        behindProgramDateMs: playingDate ? clock() - playingDate.getTime() : null,
        levelHeight: level?.height ?? null,
        currentTime: video.currentTime,
      });
    }, 500);
  },

  /** @param {boolean} on */
  setRecording(on) {
    if (on && !sampler.recording) {
      sampler.samples = [];
      sampler.waiting = 0;
    }
    sampler.recording = on;
  },

  results() {
    const hls = sampler.hls();
    return {
      samples: sampler.samples,
      waiting: sampler.waiting,
      hlsVersion: Hls.version,
      lowLatencyMode: hls ? Boolean(hls.config.lowLatencyMode) : null,
      liveSyncDuration: hls?.config.liveSyncDuration ?? null,
      liveSyncDurationCount: hls?.config.liveSyncDurationCount ?? null,
      levels: hls ? hls.levels.map((l) => `${l.width}x${l.height}@${Math.round(l.bitrate / 1000)}k`) : [],
      errors: player.errors,
      recoveries: player.recoveries,
      loads: sampler.loads,
    };
  },
};

/** @type {any} */ (window).__benchHls = { player, sampler };
