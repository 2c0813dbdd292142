/**
 * Atomic file output: results are written to a temporary file in the target's directory (same file
 * system, so rename(2) is atomic) and renamed over the target, so a reader sees the old file or the
 * new one, never half of one.
 */

import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

let tempCounter = 0;

/** Writes `html` to `path` atomically, creating the directory if needed; replaces an existing file. */
export async function writeReportAtomic(path: string, html: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${process.pid}.${++tempCounter}.tmp`);
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
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}
