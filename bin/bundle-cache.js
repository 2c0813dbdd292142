/**
 * The bundle cache's layout and its manifests, in plain JavaScript: bin/bundled.js asks
 * freshBundle before it loads tsx and esbuild, which are half of a CLI start when the sources have
 * not changed since the last bundle (src/run/bundle.ts builds and records bundles).
 *
 * An entry's manifest names its latest bundle and the files it was built from (paths in the
 * package) with one digest of the package's path and those files' bytes, as the build read them.
 * The bundle is fresh while the files hash to the same digest: a content check, a few ms for the
 * CLI's 150 files, where sizes and mtimes could miss an edit.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { threadId } from "node:worker_threads";

/** The package's root directory. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Inside the package, so that a bundle's package imports resolve from its node_modules. */
export const CACHE_DIR = join(ROOT, "node_modules", ".cache", "vnetlab");

/** The prefix of `entry`'s bundles and manifest: its path in the package, flattened. */
export function stemOf(entry) {
  return `${entry.slice(ROOT.length + 1).replace(/[/\\.]/g, "-")}-`;
}

/** Where `entry`'s manifest lives in `dir`. */
export function manifestFile(entry, dir = CACHE_DIR) {
  return join(dir, `${stemOf(entry)}manifest.json`);
}

/**
 * The digest of files (paths in the package, sorted) given their bytes: the package's path is in it
 * too, as bundles carry their modules' absolute URLs.
 */
export function inputsDigest(files, read) {
  const h = createHash("sha256").update(ROOT);
  for (const f of files) h.update(`\0${f}\0`).update(read(f));
  return h.digest("hex");
}

/** Writes `text` to `file` whole (then renamed): concurrent writers leave one complete file. */
export function writeAtomic(file, text) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}-${threadId}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Records that `bundle` (a file in `dir`) was built from `files` with the bytes `read` gives. */
export function writeManifest(entry, bundle, files, read, dir = CACHE_DIR) {
  const sorted = [...files].sort();
  const manifest = { bundle: basename(bundle), files: sorted, digest: inputsDigest(sorted, read) };
  writeAtomic(manifestFile(entry, dir), JSON.stringify(manifest));
}

/**
 * `entry`'s latest bundle if the files it was built from are unchanged and it is still there (then
 * marked used where the cache is writable: its mtime is its last use), else null.
 */
export function freshBundle(entry, dir = CACHE_DIR) {
  let file;
  try {
    const m = JSON.parse(readFileSync(manifestFile(entry, dir), "utf8"));
    if (inputsDigest(m.files, (f) => readFileSync(join(ROOT, f))) !== m.digest) return null;
    file = join(dir, m.bundle);
    if (!statSync(file).isFile()) return null;
  } catch {
    // No manifest, an input gone, the bundle pruned: build it again.
    return null;
  }
  try {
    const now = Date.now() / 1000;
    utimesSync(file, now, now);
  } catch {
    // A read-only install still runs its bundle; nothing prunes it there.
  }
  return file;
}
