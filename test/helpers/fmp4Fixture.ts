/**
 * Fragmented MP4 made by ffmpeg for packager tests: 640x360@30 test pattern and a
 * sine, H.264 with a fixed 1 s GOP and AAC, 250 ms fragments, as the recorder writes.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();

export interface Fmp4Options {
  /** x264 preset. Default 'ultrafast'. */
  preset?: string;
  /** Extra video options, e.g. ['-profile:v', 'high', '-level:v', '3.1']; they win over the defaults. */
  videoOptions?: string[];
}

export function generateFmp4(seconds: number, options: Fmp4Options = {}): Promise<Buffer> {
  const args = [
    ...['-hide_banner', '-loglevel', 'error', '-nostdin'],
    ...['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
    ...['-t', String(seconds), '-map', '0:v', '-map', '1:a'],
    ...['-c:v', 'libx264', '-preset', options.preset ?? 'ultrafast', '-pix_fmt', 'yuv420p'],
    ...['-g', '30', '-keyint_min', '30', '-sc_threshold', '0', '-c:a', 'aac', '-b:a', '64k'],
    // After the defaults, so that a test can override them (the GOP, say).
    ...(options.videoOptions ?? []),
    ...['-f', 'mp4', '-movflags', '+empty_moov+default_base_moof+frag_keyframe', '-frag_duration', '250000', 'pipe:1'],
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      running.delete(child);
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`ffmpeg exited with ${code}: ${err}`));
    });
  });
}

/** Kills fixture ffmpegs still running (a test's after()). */
export function killFmp4Generators(): void {
  for (const child of running) child.kill('SIGKILL');
}
