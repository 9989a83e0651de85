/**
 * An RTMP/SRT encoder whose picture carries the frame timestamp code
 * (scripts/bench/browser/frameCodec.js): this process draws gray frames with
 * the code of Date.now() in the top band and a moving bar below, at the frame
 * rate, and pipes them into an ffmpeg that encodes x264 (veryfast, 1 s GOP,
 * B-frames off — Main, `-tune zerolatency`, what the server copies — or on —
 * High, `-bf 2` with x264's look-ahead, what the server re-encodes) and
 * publishes FLV to rtmp://… or MPEG-TS to srt://…; optionally with an AAC
 * tone. `readCodeFrame` reads the code back from a decoded luma frame.
 *
 * Shared by the ingest latency benchmarks (ingest-latency: far end a
 * PlainTransport + ffmpeg decoder; ingest-hls-latency: hls.js in Chromium).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cellPattern, cellRect, COLUMNS, decodeLuma, LAYOUT, ROWS } from '../browser/frameCodec.js';

export interface CodeEncoderOptions {
  /** rtmp://… (FLV) or srt://… (MPEG-TS). */
  url: string;
  bFrames: boolean;
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  /** A 440 Hz AAC tone beside the video, as OBS sends. */
  audio: boolean;
}

/** One gray frame with the timestamp code of `now` in its top band and a moving bar below. */
export function drawCodeFrame(now: number, index: number, width: number, height: number): Buffer {
  const frame = Buffer.alloc(width * height, 40);
  const band = Math.ceil(LAYOUT.bandHeight * height);
  frame.fill(128, 0, band * width);
  const pattern = cellPattern(now);
  for (let row = 0; row < ROWS; row++) {
    for (let column = 0; column < COLUMNS; column++) {
      const rect = cellRect(column, row, width, height);
      const value = pattern[row]?.[column] ? 255 : 0;
      for (let y = rect.y; y < rect.y + rect.height; y++) frame.fill(value, y * width + rect.x, y * width + rect.x + rect.width);
    }
  }
  const x = (index * 8) % width;
  for (let y = band + 10; y < height; y++) frame.fill(220, y * width + x, y * width + Math.min(width, x + 40));
  return frame;
}

/** Reads the code from a decoded luma frame (average of each cell's central half); null when it does not decode. */
export function readCodeFrame(frame: Buffer, referenceMs: number, width: number, height: number): number | null {
  const lumaAt = (column: number, row: number): number => {
    const rect = cellRect(column, row, width, height);
    const inset = (1 - LAYOUT.sampleFraction) / 2;
    const x0 = Math.round(rect.x + rect.width * inset);
    const y0 = Math.round(rect.y + rect.height * inset);
    const x1 = Math.round(rect.x + rect.width * (1 - inset));
    const y1 = Math.round(rect.y + rect.height * (1 - inset));
    let sum = 0;
    let n = 0;
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        sum += frame[y * width + x]!;
        n++;
      }
    return n ? sum / n : 0;
  };
  const result = decodeLuma(lumaAt, referenceMs);
  return result.ok ? result.timestampMs : null;
}

/** ffmpeg quiet but for errors; stdout piped (for decoders), stdin as asked. */
export function spawnFfmpeg(argv: string[], stdin: 'pipe' | 'ignore'): ChildProcess {
  return spawn('/usr/bin/ffmpeg', ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error', ...argv], { stdio: [stdin, 'pipe', 'inherit'] });
}

/** The encoder running; close() stops drawing and kills ffmpeg (idempotent). */
export class CodeEncoder {
  readonly #process: ChildProcess;
  readonly #drawer: NodeJS.Timeout;
  #closed = false;
  #dropped = 0;

  private constructor(options: CodeEncoderOptions) {
    const { width, height, fps, bitrateKbps, bFrames } = options;
    this.#process = spawnFfmpeg(
      [
        // Wall-clock timestamps: a frame dropped below (encoder lagging) leaves a gap rather than
        // slowing the stream's clock, which would put it ever further behind real time.
        ...['-use_wallclock_as_timestamps', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${width}x${height}`, '-framerate', String(fps), '-i', 'pipe:0'],
        ...(options.audio ? ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-map', '0:v', '-map', '1:a'] : []),
        ...['-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', bFrames ? 'high' : 'main'],
        ...['-bf', bFrames ? '2' : '0', '-g', String(fps), '-b:v', `${bitrateKbps}k`, '-maxrate', `${bitrateKbps}k`, '-bufsize', `${bitrateKbps / 2}k`],
        ...(bFrames ? [] : ['-tune', 'zerolatency']),
        ...(options.audio ? ['-c:a', 'aac', '-b:a', '128k'] : []),
        ...['-f', options.url.startsWith('srt:') ? 'mpegts' : 'flv', options.url],
      ],
      'pipe',
    );
    const stdin = this.#process.stdin!;
    stdin.on('error', () => undefined);
    // An x264 slower than real time (a busy machine) must not queue frames in
    // this process, which would add latency that is not the server's: while
    // ffmpeg has not drained its input, due frames are dropped, as OBS skips
    // frames when its encoder lags. Two frames of slack absorb a late timer.
    const lagging = (): boolean => stdin.writableLength >= 2 * width * height;
    let index = 0;
    const started = Date.now();
    this.#drawer = setInterval(
      () => {
        // Frames due by now (a late timer catches up rather than drifting).
        while (index < ((Date.now() - started) * fps) / 1000) {
          if (lagging()) {
            index++;
            this.#dropped++;
            continue;
          }
          stdin.write(drawCodeFrame(Date.now(), index++, width, height));
        }
      },
      1000 / fps / 2,
    );
  }

  /** Frames not drawn because ffmpeg had not taken the ones before yet. */
  get dropped(): number {
    return this.#dropped;
  }

  static start(options: CodeEncoderOptions): CodeEncoder {
    return new CodeEncoder(options);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#drawer);
    this.#process.kill('SIGKILL');
  }
}
