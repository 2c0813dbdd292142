/**
 * Worker threads run TypeScript through tsx's loader (Node 20 has no type stripping): pass
 * `execArgv: ["--import", TSX_LOADER]`. Resolved from this package, so it works from any cwd.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
