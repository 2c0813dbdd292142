/**
 * Regression fingerprints (INET-style): each preset, run for 2 simulated seconds, must execute
 * exactly the same events as when these values were recorded. A change to any model's behaviour
 * changes a fingerprint; if the change is intended, re-record the values and say why in the commit.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { PRESET_NAMES } from "../scenario/presets.ts";
import { run } from "./run.ts";

const CLI = fileURLToPath(new URL("../../bin/vnetlab.js", import.meta.url));

const PINNED: Record<string, string> = {
  "seed-torrent": "0d5c66b2accb1cce",
  "seed-torrent-mergeable": "c278c8c94534fcbd",
  "seed-torrent-big": "867150e384e5d64e",
  "iperf-lowmem": "cf582e506fb16457",
  "probe-under-pressure": "7834bdd9b8a46e0b",
  outage: "03030d7325118fac",
  "fault-atomic": "1ce6335074576855",
  "fault-window": "1ce6335074576855",
  "fault-partial": "bc5f3e4b5fc3b9b8",
  "swap-churn": "66ef9a7ab9795fbb",
};

describe("preset fingerprints", () => {
  it("pins every preset", () => {
    expect(Object.keys(PINNED).sort()).toEqual([...PRESET_NAMES].sort());
  });

  for (const preset of PRESET_NAMES) {
    it(preset, () => {
      // The outage preset's outages start after 2 s; one short outage keeps its point in the window.
      const set = [
        "warmup=200ms",
        ...(preset === "outage" ? ["faults.linkOutages=[{at: 1s, duration: 300ms}]"] : []),
        // The fault presets' injectors start after 2 s; the window moves to 1 s–1.5 s.
        ...(preset.startsWith("fault-")
          ? [0, 1].flatMap((i) => [`faults.alloc[${i}].at=1s`, `faults.alloc[${i}].duration=500ms`])
          : []),
      ];
      expect(run(preset, { duration: "2s", set }).fingerprint).toBe(PINNED[preset]);
    });
  }
});

describe("the CLI's bundle", () => {
  it("runs the model as its sources do (bundle.ts folds constants across modules)", () => {
    const out = execFileSync(
      process.execPath,
      [CLI, "run", "probe-under-pressure", "--duration", "2s", "--set", "warmup=200ms", "--json"],
      { encoding: "utf8" },
    );
    expect((JSON.parse(out) as { fingerprint: string }).fingerprint).toBe(PINNED["probe-under-pressure"]);
  });
});
