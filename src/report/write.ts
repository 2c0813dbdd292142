/**
 * Atomic file output: results are written to a temporary file in the target's directory (same file
 * system, so rename(2) is atomic) and renamed over the target, so a reader sees the old file or the
 * new one, never half of one. The file and then its directory are fsynced, so after a crash the name
 * points at the whole new file or at the old one.
 *
 * Targets are checked before anything runs (checkOutputTarget) and again just before the rename:
 * only a missing name or a regular file is replaced. A symlink, FIFO, socket, device or directory is
 * refused rather than written through or replaced: renaming over it would destroy it (a symlink the
 * user keeps pointing elsewhere, /dev/full), and writing through it would write somewhere the user
 * did not name. Kernel pseudo-file systems (/proc, /sys, /dev) are refused as directories.
 *
 * Temp names carry host and pid (`.NAME.HOST-PID.N.tmp`): a process killed mid-write (kill -9 runs no
 * cleanup) leaves one behind, and the next write of the same target removes those of dead processes
 * on this host.
 */

import { constants, readdirSync, rmSync, type Stats } from "node:fs";
import { access, lstat, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";

let tempCounter = 0;

/** `.NAME.HOST-PID.` prefix, which every temp file of this process for `path` starts with. */
export function tempPrefix(path: string, pid: number = process.pid): string {
  return `.${basename(path)}.${hostname()}-${pid}.`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes temp files (and SQLite side files of temp databases) for `path` left by dead processes on this host. */
export function removeStaleTemps(path: string): void {
  const prefix = `.${basename(path)}.${hostname()}-`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.(?:\d+\.)?tmp(?:-wal|-shm|-journal)?$/.exec(name.slice(prefix.length));
    if (m !== null && !processAlive(Number(m[1]))) rmSync(join(dirname(path), name), { force: true });
  }
}

/** An output target that must not be written (exit 2: the user named it). */
export class OutputTargetError extends Error {
  override name = "UsageError";
}

const PSEUDO_ROOTS = ["/proc", "/sys", "/dev"];

const within = (path: string, root: string): boolean => {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
};

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    // ENOTDIR: an ancestor is a file, which the walk up in checkOutputTarget reports.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new OutputTargetError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/** Throws OutputTargetError unless `path` is missing or a regular file (never follows a symlink). */
async function checkTargetName(path: string): Promise<void> {
  const st = await lstatOrUndefined(path);
  if (st !== undefined && !st.isFile()) {
    throw new OutputTargetError(
      `will not write ${path}: it is ${kindOf(st)}; vnetlab replaces only regular files (name a new file)`,
    );
  }
}

/**
 * Checks, before a run, that `path` can be written atomically: the name is missing or a regular file,
 * and its nearest existing ancestor directory is a writable directory outside /proc, /sys and /dev.
 * Creates nothing.
 */
export async function checkOutputTarget(path: string): Promise<void> {
  const abs = resolve(path);
  if (PSEUDO_ROOTS.some((r) => within(abs, r))) {
    throw new OutputTargetError(`will not write ${path}: it is inside ${PSEUDO_ROOTS.join(", ")}`);
  }
  await checkTargetName(abs);
  let dir = dirname(abs);
  for (;;) {
    const st = await lstatOrUndefined(dir);
    if (st !== undefined) {
      const real = st.isSymbolicLink() ? await stat(dir).catch(() => undefined) : st;
      if (real === undefined || !real.isDirectory()) {
        throw new OutputTargetError(`cannot write ${path}: ${dir} is not a directory`);
      }
      try {
        await access(dir, constants.W_OK | constants.X_OK);
      } catch {
        throw new OutputTargetError(`cannot write ${path}: directory ${dir} is not writable`);
      }
      return;
    }
    if (dirname(dir) === dir) return;
    dir = dirname(dir);
  }
}

/** fsync a directory so a rename in it survives a crash (ignored where directories cannot be synced). */
async function syncDir(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EINVAL" && code !== "EPERM") throw e;
  } finally {
    await fh?.close();
  }
}

/** Writes `text` to `path` atomically, creating the directory if needed; replaces only a regular file. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await checkTargetName(path);
  await mkdir(dir, { recursive: true });
  removeStaleTemps(path);
  const temp = join(dir, `${tempPrefix(path)}${++tempCounter}.tmp`);
  try {
    // "wx": never reuse a file some other writer left behind.
    const fh = await open(temp, "wx");
    try {
      await fh.writeFile(text, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    // Again: the name may have become a symlink or FIFO while the run went on.
    await checkTargetName(path);
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  // The rename is durable only once the directory entry is on disk.
  await syncDir(dir);
}

/** writeFileAtomic for HTML reports (the name the report modules have always used). */
export const writeReportAtomic = writeFileAtomic;
