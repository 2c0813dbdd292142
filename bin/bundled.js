#!/usr/bin/env node
/**
 * Runs a TypeScript module of this package from its bundle (src/run/bundle.ts says why). When the
 * sources are those of the last bundle (bundle-cache.js), it loads that bundle at once. Otherwise
 * tsx loads bundle.ts, which builds the bundle, and is unregistered before the bundle loads: it
 * would compile the bundle's megabyte again at every start. `node bin/bundled.js ENTRY ARGS…` runs
 * ENTRY, whose top level does its work, with ARGS after it in process.argv as if it were run
 * itself; the CLI (bin/vnetlab.js) and the library (bin/lib.js) start through runBundled.
 */
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { freshBundle } from "./bundle-cache.js";

/**
 * Imports `entry` from its bundle. `sourceMaps` turns on source-mapped stacks for the whole process,
 * which a command wants and a library leaves to its user (node --enable-source-maps).
 */
export async function runBundled(entry, sourceMaps = true) {
  let file = freshBundle(entry);
  if (file === null) {
    const { register } = await import("tsx/esm/api");
    const unregister = register();
    const { buildBundle } = await import("../src/run/bundle.ts");
    file = await buildBundle(entry);
    // No bundle (a read-only install): the TypeScript itself, through tsx.
    if (file === null) return import(pathToFileURL(entry).href);
    await unregister();
  }
  if (sourceMaps) process.setSourceMapsEnabled(true);
  return import(pathToFileURL(file).href);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const entry = resolve(process.argv[2]);
  process.argv.splice(1, 2, entry);
  await runBundled(entry);
}
