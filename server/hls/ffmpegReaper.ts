/**
 * Makes sure no recorder ffmpeg outlives the server. Normal shutdown kills
 * them; if the server itself is killed, its ffmpeg children would be
 * orphaned, so their pids are kept as files and the next start kills any
 * that still run ffmpeg.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';

export class FfmpegReaper {
  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  async reapOrphans(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    for (const name of await fsp.readdir(this.dir)) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 1) continue;
      const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes('ffmpeg') && cmdline.includes('fl-rec-')) {
        try {
          process.kill(pid, 'SIGKILL');
          this.log.warn({ pid }, 'killed an ffmpeg left over from a previous run');
        } catch {
          // already gone
        }
      }
      await fsp.rm(path.join(this.dir, name), { force: true });
    }
  }

  track(pid: number): void {
    try {
      fs.writeFileSync(path.join(this.dir, String(pid)), '');
    } catch {
      // Best effort: only matters after a crash.
    }
  }

  untrack(pid: number): void {
    fs.rmSync(path.join(this.dir, String(pid)), { force: true });
  }

  close(): void {
    // Pids of recorders closed normally are already untracked.
  }
}
