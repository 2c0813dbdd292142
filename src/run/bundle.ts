/**
 * The model runs from one bundled ES module, not from its TypeScript files one by one:
 *  - Worker threads: Node 20's module hooks do not reach them, so tsx in a worker (`--import tsx`)
 *    can only compile TypeScript to CommonJS through its require hook, and piscina takes that path;
 *    every cross-module reference then goes through an export getter that V8 does not fold, and the
 *    same run took 2.9 µs of CPU per packet on a worker against 0.9 µs on the main thread.
 *  - The main thread: tsx's per-file ES modules run the e2e bench about 10 % slower than one bundle,
 *    where the modules' constants and functions share one scope.
 * (docs/performance.md, "Worker threads" and "One bundle"). esbuild, the compiler tsx itself uses,
 * bundles an entry once per code version; the bundle needs no loader. A manifest beside it
 * (bin/bundle-cache.js) lets later starts find it without esbuild while the sources are the same.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Plugin } from "esbuild";
import { Piscina } from "piscina";
import { CACHE_DIR, freshBundle, ROOT, stemOf, writeAtomic, writeManifest } from "../../bin/bundle-cache.js";
import { TSX_LOADER } from "./tsx-loader.ts";

/** How a piscina pool starts its workers: `filename` and `execArgv` for its options. */
export interface WorkerModule {
  filename: string;
  execArgv: string[];
}

/** bin/bundled.js: `node LAUNCH ENTRY ARGS…` runs a module from its bundle in a child process. */
export const LAUNCH = fileURLToPath(new URL("../../bin/bundled.js", import.meta.url));
/**
 * Files besides the modules that decide what a bundle holds: esbuild's TypeScript settings, the
 * package's type, and this file with the build's options.
 */
const BUILD_FILES = ["tsconfig.json", "package.json", relative(ROOT, fileURLToPath(import.meta.url))];
/**
 * A bundle of an entry not used for this long is removed when another version of the entry is
 * written: a long sweep may still start workers from its own version.
 */
const PRUNE_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * Each module keeps its own import.meta.url (presets and the source hash are read relative to their
 * module). The replacement is on the source text, on the same line, so the source map still points
 * at the right lines. What each module's file held is kept in `read` (path in the package → bytes)
 * for the bundle's manifest.
 */
function keepImportMetaUrl(read: Map<string, Buffer>): Plugin {
  return {
    name: "keep-import-meta-url",
    setup(build) {
      build.onLoad({ filter: /\.[jt]s$/ }, (args) => {
        const bytes = readFileSync(args.path);
        read.set(relative(ROOT, args.path), bytes);
        return {
          contents: bytes
            .toString("utf8")
            .replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href)),
          loader: args.path.endsWith(".ts") ? "ts" : "js",
        };
      });
    },
  };
}

/**
 * `entry` (a TypeScript module's path) bundled into one ES module with an inline source map, and the
 * files it was built from with the bytes the build read.
 */
async function bundle(entry: string, dir: string): Promise<{ code: Uint8Array; read: Map<string, Buffer> }> {
  const { build } = await import("esbuild");
  const read = new Map(BUILD_FILES.map((f) => [f, readFileSync(join(ROOT, f))]));
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    // Folds constants across the modules (now one scope) and drops dead branches; names stay.
    minifySyntax: true,
    sourcemap: "inline",
    sourcesContent: false,
    // The directory the bundle goes to: the source map's paths are relative to it.
    outfile: join(dir, "worker.mjs"),
    plugins: [keepImportMetaUrl(read)],
    logLevel: "silent",
  });
  return { code: out.outputFiles[0]!.contents, read };
}

/** Writes `code` under `dir`, named by `entry` and the code's hash; unused bundles of `entry` go. */
function writeBundle(entry: string, code: Uint8Array, dir: string): string {
  const stem = stemOf(entry);
  const file = join(dir, `${stem}${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`);
  const now = Date.now();
  // Its mtime is its last use. Threads and processes bundling the same code at once write the same
  // bytes.
  if (existsSync(file)) utimesSync(file, now / 1000, now / 1000);
  else writeAtomic(file, code);
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!name.startsWith(stem) || !name.endsWith(".mjs") || path === file) continue;
    try {
      if (now - statSync(path).mtimeMs > PRUNE_AFTER_MS) rmSync(path, { force: true });
    } catch {
      // Another process pruned it first.
    }
  }
  return file;
}

/**
 * The bundle of `entry`, written under `dir` (which must lie inside this package for the bundle's
 * package imports to resolve), or null when it cannot be written there (a read-only install). A
 * bundling error (the source does not compile) is thrown.
 */
export async function bundledModule(entry: string, dir: string = CACHE_DIR): Promise<string | null> {
  return freshBundle(entry, dir) ?? buildBundle(entry, dir);
}

/**
 * bundledModule after freshBundle found no fresh bundle: builds and records one (bin/bundled.js
 * calls it directly, having asked freshBundle already).
 */
export async function buildBundle(entry: string, dir: string = CACHE_DIR): Promise<string | null> {
  const { code, read } = await bundle(entry, dir);
  try {
    const file = writeBundle(entry, code, dir);
    writeManifest(entry, file, [...read.keys()], (f: string) => read.get(f)!, dir);
    return file;
  } catch {
    return null;
  }
}

/**
 * The module a worker thread loads for `entry`: its bundle, or without one the TypeScript itself
 * through tsx, which works but runs the model about three times slower.
 */
export async function workerModule(entry: string, dir: string = CACHE_DIR): Promise<WorkerModule> {
  const filename = await bundledModule(entry, dir);
  return filename === null
    ? { filename: entry, execArgv: ["--import", TSX_LOADER] }
    : { filename, execArgv: ["--enable-source-maps"] };
}

/** A piscina pool of `threads` workers (no more, no fewer) running `entry`'s default export. */
export async function workerPool<Task, Result>(
  entry: string,
  threads: number,
): Promise<Piscina<Task, Result>> {
  return new Piscina<Task, Result>({
    ...(await workerModule(entry)),
    minThreads: threads,
    maxThreads: threads,
  });
}
