/**
 * A rendition packager's files: every write is atomic (temp file in the same
 * directory, then rename, so nobody ever reads half a file), deletes are
 * quiet about files already gone, and disk errors are reported (throttled
 * per operation and code) instead of thrown.
 *
 * Nothing here goes through a symbolic link: the folder from the HLS root
 * down must be link-free (checked before each batch, `checkDir()`), temp files
 * are created exclusively, and rename/unlink act on a link itself, never on
 * what it points to.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { linkOnPath } from './hlsDirSafety.js';

export const PLAYLIST_FILE = 'index.m3u8';

/** Every file name a packager writes (and the only ones the routes serve). */
export const PACKAGER_FILE_PATTERN = /^(?:index\.m3u8|init-[a-z0-9]{1,16}-\d{1,9}\.mp4|part-[a-z0-9]{1,16}-\d{1,12}\.m4s|seg-[a-z0-9]{1,16}-\d{1,12}\.m4s)$/;
const CLEANUP_PATTERN = /^(?:index\.m3u8|init-.+\.mp4|part-.+\.m4s|seg-.+\.m4s|\..+\.tmp)$/;
export const PART_FILE = /^part-([a-z0-9]{1,16})-(\d{1,12})\.m4s$/;

export class HlsDiskError extends Error {
  constructor(
    readonly op: string,
    readonly path: string,
    readonly code: string,
    cause: unknown,
    /** Identical errors suppressed since the last report. */
    readonly suppressed = 0,
  ) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`HLS packager could not ${op} ${path} (${code}): ${detail}${suppressed > 0 ? ` [${suppressed} similar suppressed]` : ''}`, {
      cause,
    });
    this.name = 'HlsDiskError';
  }
}

/** File operations the packager uses; replaceable for tests. */
export interface PackagerFs {
  mkdir(dir: string): Promise<unknown>;
  readdir(dir: string): Promise<string[]>;
  writeFile(file: string, data: Uint8Array | string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  rmdir(dir: string): Promise<void>;
}

export const nodeFs: PackagerFs = {
  mkdir: (dir) => fsp.mkdir(dir, { recursive: true }),
  readdir: (dir) => fsp.readdir(dir),
  // 'wx': a temp name that exists (a planted link) fails instead of being written through.
  writeFile: (file, data) => fsp.writeFile(file, data, { flag: 'wx' }),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (file) => fsp.unlink(file),
  rmdir: (dir) => fsp.rmdir(dir),
};

const ERROR_THROTTLE_MS = 5_000;

export class PackagerFileStore {
  readonly dir: string;
  readonly #root: string;
  readonly #fs: PackagerFs;
  readonly #now: () => number;
  readonly #report: (error: Error) => void;
  readonly #errorThrottle = new Map<string, { at: number; suppressed: number }>();
  #tmpCounter = 0;
  /** The folder passed the last link check. */
  #safe = false;
  diskErrors = 0;

  /** `root`: the trusted top (the HLS root); nothing between it and `dir` may be a link. */
  constructor(options: { dir: string; root: string; fs: PackagerFs; now: () => number; report: (error: Error) => void }) {
    this.dir = options.dir;
    this.#root = options.root;
    this.#fs = options.fs;
    this.#now = options.now;
    this.#report = options.report;
  }

  /** Creates the directory and removes files of an earlier packager. */
  async prepare(): Promise<void> {
    if (!(await this.checkDir())) return;
    try {
      await this.#fs.mkdir(this.dir);
    } catch (error) {
      this.#diskError('create directory', this.dir, error);
      return;
    }
    if (!(await this.checkDir())) return;
    let names: string[] = [];
    try {
      names = await this.#fs.readdir(this.dir);
    } catch (error) {
      this.#diskError('list', this.dir, error);
    }
    await Promise.all(names.filter((n) => CLEANUP_PATTERN.test(n)).map((n) => this.unlink(n)));
  }

  /** Checks that no link lies between the root and the folder; until the next check, writes and deletes follow the answer. */
  async checkDir(): Promise<boolean> {
    try {
      const problem = await linkOnPath(this.#root, this.dir);
      this.#safe = problem === undefined;
      if (problem !== undefined) this.#diskError('use', this.dir, Object.assign(new Error(`${problem}; refusing to follow it`), { code: 'ELINK' }));
    } catch (error) {
      this.#safe = false;
      this.#diskError('use', this.dir, error);
    }
    return this.#safe;
  }

  /** Temp file + rename. Returns false (and reports) on failure. */
  async writeAtomic(name: string, data: Uint8Array | string): Promise<boolean> {
    if (!this.#safe) return false;
    const file = path.join(this.dir, name);
    const tmp = path.join(this.dir, `.${name}.${process.pid}.${++this.#tmpCounter}.tmp`);
    try {
      await this.#fs.writeFile(tmp, data);
    } catch (error) {
      this.#diskError('write', tmp, error);
      if ((error as NodeJS.ErrnoException | null)?.code !== 'EEXIST') await this.#fs.unlink(tmp).catch(() => undefined);
      return false;
    }
    try {
      await this.#fs.rename(tmp, file);
      return true;
    } catch (error) {
      this.#diskError('rename', file, error);
      await this.#fs.unlink(tmp).catch(() => undefined);
      return false;
    }
  }

  /**
   * A hard link `name` to `source` (a file another store wrote): atomic like
   * a rename, and the data stays while either name does. False (reported)
   * on failure; true if `name` exists already. `source` gone is false, quietly.
   */
  async link(source: string, name: string): Promise<boolean> {
    if (!this.#safe) return false;
    const file = path.join(this.dir, name);
    try {
      await fsp.link(source, file);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException | null)?.code;
      if (code === 'EEXIST') return true;
      if (code !== 'ENOENT') this.#diskError('link', file, error);
      return false;
    }
  }

  async unlink(name: string): Promise<void> {
    if (!this.#safe) return;
    const file = path.join(this.dir, name);
    try {
      await this.#fs.unlink(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException | null)?.code !== 'ENOENT') this.#diskError('delete', file, error);
    }
  }

  async removeDir(): Promise<void> {
    if (this.#safe) await this.#fs.rmdir(this.dir).catch(() => undefined);
  }

  #diskError(op: string, file: string, error: unknown): void {
    this.diskErrors += 1;
    const code = (error as NodeJS.ErrnoException | null)?.code ?? 'EUNKNOWN';
    const key = `${op}:${code}`;
    const now = this.#now();
    const seen = this.#errorThrottle.get(key);
    if (seen && now - seen.at < ERROR_THROTTLE_MS) {
      seen.suppressed += 1;
      return;
    }
    this.#errorThrottle.set(key, { at: now, suppressed: 0 });
    this.#report(new HlsDiskError(op, file, code, error, seen?.suppressed ?? 0));
  }
}
