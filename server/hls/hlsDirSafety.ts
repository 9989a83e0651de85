/**
 * The HLS folder is served to the world and written and pruned by the
 * packagers, so what lies in it must be what the server put there:
 *  - the root is the server's own (created 0750, or an existing one owned by
 *    the server's user and not writable by group or others — anyone else
 *    could plant files or links in it), checked once at start;
 *  - below the root, nothing follows a symbolic link: a link (to a file or a
 *    folder) is never served, written through or pruned through.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';

/** HLS_DIR is unsafe to serve from; the server refuses to start. */
export class HlsDirUnsafeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HlsDirUnsafeError';
  }
}

const ROOT_MODE = 0o750;

/**
 * Creates the HLS root (mode 0750) if missing, checks it otherwise, and
 * returns its real path. Throws HlsDirUnsafeError for a root the server must
 * not use; other errors (EACCES, ENOSPC…) are thrown as they are.
 */
export async function prepareHlsRoot(dir: string): Promise<string> {
  const absolute = path.resolve(dir);
  const uid = process.getuid?.();
  const link = await fsp.lstat(absolute).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  });
  if (!link) {
    await fsp.mkdir(absolute, { recursive: true, mode: ROOT_MODE });
  } else if (link.isSymbolicLink() && uid !== undefined && link.uid !== uid && link.uid !== 0) {
    // A link the admin made is fine; one planted by another user (e.g. in /tmp) is not.
    throw new HlsDirUnsafeError(
      `HLS_DIR ${absolute} is a symbolic link owned by uid ${link.uid}, not by this server (uid ${uid}); remove it or set HLS_DIR elsewhere`,
    );
  }
  const real = await fsp.realpath(absolute);
  const stat = await fsp.stat(real);
  if (!stat.isDirectory()) throw new HlsDirUnsafeError(`HLS_DIR ${absolute} is not a directory`);
  if (uid !== undefined && stat.uid !== uid) {
    throw new HlsDirUnsafeError(`HLS_DIR ${absolute} is owned by uid ${stat.uid}, not by this server (uid ${uid}); chown it or set HLS_DIR elsewhere`);
  }
  if ((stat.mode & 0o022) !== 0) {
    throw new HlsDirUnsafeError(
      `HLS_DIR ${absolute} is writable by ${(stat.mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${(stat.mode & 0o777).toString(8)}); chmod it to 750 or 700`,
    );
  }
  return real;
}

/**
 * Why the path from `root` (trusted, not checked) down to `target` is not
 * safe to use — a component is a symbolic link, or a folder on the way is not
 * a folder — or undefined when it is. A missing component ends the check:
 * whatever is created there later is created by us.
 */
export async function linkOnPath(root: string, target: string): Promise<string | undefined> {
  const relative = path.relative(root, target);
  if (relative === '') return undefined;
  if (relative.startsWith('..') || path.isAbsolute(relative)) return `${target} is outside ${root}`;
  const parts = relative.split(path.sep);
  let current = root;
  for (const [i, part] of parts.entries()) {
    current = path.join(current, part);
    let stat;
    try {
      stat = await fsp.lstat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    if (stat.isSymbolicLink()) return `${current} is a symbolic link`;
    if (i < parts.length - 1 && !stat.isDirectory()) return `${current} is not a directory`;
  }
  return undefined;
}

/** A regular file reached from `root` without any link on the way. */
export async function isPlainFileUnder(root: string, file: string): Promise<boolean> {
  if ((await linkOnPath(root, file).catch(() => 'unreadable')) !== undefined) return false;
  try {
    return (await fsp.lstat(file)).isFile();
  } catch {
    return false;
  }
}
