/**
 * Debian's `simple-whip-client` (/usr/bin/whip-client: GStreamer's webrtcbin)
 * publishing a test picture and tone over WHIP, as a real third-party WHIP
 * client: bearer token, trickle ICE (it PATCHes its candidates after the 201)
 * unless `trickle: false`, and a DELETE of its resource when it is stopped
 * (SIGINT, as Ctrl-C).
 *
 * Its log says how far it got; `waitForLine` on the TrackedProcess reads it.
 *
 * Debian 12's package cannot start as shipped: whip-client links libsoup 2.4,
 * while libnice (webrtcbin's ICE) links gupnp-igd → gupnp 1.6 → libsoup 3, and
 * libsoup 3 aborts a process that already holds libsoup 2 ("libsoup2 symbols
 * detected"). libnice only uses gupnp-igd for UPnP port mappings on a home
 * router, and copes with none (`gupnp_simple_igd_thread_new` → NULL). So the
 * client runs with a stub libgupnp-igd that maps nothing, built here once with
 * gcc and put first on LD_LIBRARY_PATH; the rest of its stack is Debian's.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnTracked, type ExitInfo, type TrackedProcess } from './processes.js';

export const WHIP_CLIENT_BIN = '/usr/bin/whip-client';

export interface GstreamerWhipClientOptions {
  url: string;
  token: string;
  /** Video encoder: VP8 (libvpx) or H.264 (x264, Constrained Baseline). Default 'vp8'. */
  video?: 'vp8' | 'h264';
  /** Trickle candidates with PATCH (the client's default). Default true. */
  trickle?: boolean;
  /** Echo the client's log to stderr. Default false. */
  echo?: boolean;
}

/** videotestsrc → encoder → RTP payloader, in the caps shape whip-client expects. */
function videoPipeline(codec: 'vp8' | 'h264'): string {
  const source = 'videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! videoconvert ! queue';
  if (codec === 'vp8') {
    return `${source} ! vp8enc deadline=1 keyframe-max-dist=30 target-bitrate=500000 ! rtpvp8pay pt=96 ssrc=2 ! queue ! application/x-rtp,media=video,encoding-name=VP8,payload=96`;
  }
  return (
    `${source} ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=500 ! video/x-h264,profile=constrained-baseline ` +
    '! rtph264pay pt=96 ssrc=2 config-interval=-1 aggregate-mode=zero-latency ! queue ! application/x-rtp,media=video,encoding-name=H264,payload=96'
  );
}

const AUDIO_PIPELINE =
  'audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! queue ! opusenc ! rtpopuspay pt=111 ssrc=1 ' +
  '! queue ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111';

/** The four symbols libnice takes from libgupnp-igd-1.0.so.4; no UPnP IGD, as if none were found. */
const IGD_STUB_SOURCE = `
void *gupnp_simple_igd_thread_new(void) { return 0; }
unsigned long gupnp_simple_igd_get_type(void) { return 80; /* G_TYPE_OBJECT, never used without an IGD */ }
void gupnp_simple_igd_add_port(void) {}
void gupnp_simple_igd_remove_port_local(void) {}
`;

/** Builds the stub once per machine user (a directory for LD_LIBRARY_PATH). */
function igdStubDir(): string {
  const dir = path.join(os.tmpdir(), `floodlight-whip-client-igd-stub-${process.getuid?.() ?? 0}`);
  const library = path.join(dir, 'libgupnp-igd-1.0.so.4');
  if (fs.existsSync(library)) return dir;
  fs.mkdirSync(dir, { recursive: true });
  const source = path.join(dir, `stub-${process.pid}.c`);
  const built = path.join(dir, `stub-${process.pid}.so`);
  fs.writeFileSync(source, IGD_STUB_SOURCE);
  execFileSync('gcc', ['-shared', '-fPIC', '-Wl,-soname,libgupnp-igd-1.0.so.4', '-o', built, source]);
  // Atomic: another test process may be building it at the same time.
  fs.renameSync(built, library);
  fs.rmSync(source, { force: true });
  return dir;
}

export class GstreamerWhipClient {
  readonly process: TrackedProcess;

  constructor(options: GstreamerWhipClientOptions) {
    const args = ['-u', options.url, '-t', options.token, '-A', AUDIO_PIPELINE, '-V', videoPipeline(options.video ?? 'vp8'), '-o', '-l', '5'];
    if (options.trickle === false) args.push('-n');
    const env = { ...process.env, LD_LIBRARY_PATH: [igdStubDir(), process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':') };
    this.process = spawnTracked(WHIP_CLIENT_BIN, args, { name: 'whip-client', env, echo: options.echo ?? false, keepLines: 400 });
  }

  get running(): boolean {
    return this.process.running;
  }

  /** Ctrl-C: the client DELETEs its WHIP resource, then exits. Killed after `timeoutMs`. */
  stop(timeoutMs = 10_000): Promise<ExitInfo> {
    return this.process.stop({ signal: 'SIGINT', timeoutMs });
  }

  output(): string {
    return this.process.output();
  }
}
