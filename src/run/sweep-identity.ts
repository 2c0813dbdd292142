/**
 * What a campaign's identity says about the code and the scenario (see sweep.ts): the package version,
 * the git commit (recorded, not part of the identity), and a hash of the model's source, i.e. of every
 * module that run.ts imports, transitively. Workers compute the source hash too when they load, so a
 * sweep notices when the code on disk changed under it.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { canonicalJson } from "../scenario/load.ts";
import { canonicalGrid } from "./grid.ts";
import type { CampaignInfo } from "./store.ts";

export interface CodeIdentity {
  packageVersion: string;
  gitCommit: string | null;
  sourceHash: string;
}

const RUN_MODULE = fileURLToPath(new URL("./run.ts", import.meta.url));
const PACKAGE_JSON = fileURLToPath(new URL("../../package.json", import.meta.url));
const IMPORT_RE = /\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;

/** The files `entry` imports by relative path, transitively, entry included, sorted. */
export function moduleGraph(entry: string): string[] {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT_RE)) stack.push(resolve(dirname(file), m[1]!));
  }
  return [...seen].sort();
}

/** 16 hex digits of SHA-256 over the model's modules (paths relative to src/, then contents). */
export function sourceHash(entry: string = RUN_MODULE): string {
  const root = resolve(dirname(RUN_MODULE), "..");
  const h = createHash("sha256");
  for (const file of moduleGraph(entry)) {
    h.update(`${file.slice(root.length + 1)}\0`);
    h.update(readFileSync(file));
    h.update("\0");
  }
  return h.digest("hex").slice(0, 16);
}

function gitCommit(): string | null {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], {
      cwd: dirname(PACKAGE_JSON),
      stdio: ["ignore", "pipe", "ignore"],
      encoding: "utf8",
    }).trim();
  } catch {
    return null;
  }
}

/**
 * Read afresh on every call (a few ms: the files and one `git rev-parse`), so a long-lived process that
 * plans several sweeps sees the code as it is on disk now, as its workers will.
 */
export function codeIdentity(): CodeIdentity {
  return {
    packageVersion: (JSON.parse(readFileSync(PACKAGE_JSON, "utf8")) as { version: string }).version,
    gitCommit: gitCommit(),
    sourceHash: sourceHash(),
  };
}

export function campaignKey(
  c: Pick<CampaignInfo, "scenarioHash" | "grid" | "packageVersion" | "sourceHash">,
): string {
  const id = {
    scenarioHash: c.scenarioHash,
    grid: canonicalGrid(c.grid),
    packageVersion: c.packageVersion,
    sourceHash: c.sourceHash,
  };
  return createHash("sha256").update(canonicalJson(id)).digest("hex").slice(0, 16);
}
