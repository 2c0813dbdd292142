/**
 * Atomic file output: results are written to a temporary file in the target's directory (same file
 * system, so rename(2) is atomic) and renamed over the target, so a reader sees the old file or the
 * new one, never half of one. File and directory are fsynced, so the new file survives a crash too.
 *
 * Temp names carry host and pid (`.NAME.HOST-PID.N.tmp`): a process killed mid-write (kill -9 runs no
 * cleanup) leaves one behind, and the next write of the same target removes those of dead processes
 * on this host.
 */

import { readdirSync, rmSync } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";

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

/** Writes `html` to `path` atomically, creating the directory if needed; replaces an existing file. */
export async function writeReportAtomic(path: string, html: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  removeStaleTemps(path);
  const temp = join(dir, `${tempPrefix(path)}${++tempCounter}.tmp`);
  try {
    // "wx": never reuse a file some other writer left behind.
    const fh = await open(temp, "wx");
    try {
      await fh.writeFile(html, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, path);
    // The rename is durable only once the directory entry is on disk.
    const d = await open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}
