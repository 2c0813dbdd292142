/**
 * Regression fingerprints (INET-style): each preset, run for 2 simulated seconds, must execute
 * exactly the same events as when these values were recorded. A change to any model's behaviour
 * changes a fingerprint; if the change is intended, re-record the values and say why in the commit.
 */
import { describe, expect, it } from "vitest";
import { PRESET_NAMES } from "../scenario/presets.ts";
import { run } from "./run.ts";

const PINNED: Record<string, string> = {
  "seed-torrent": "cd0e875e2d543c9f",
  "seed-torrent-mergeable": "2b0aad5c0aea86dd",
  "seed-torrent-big": "d51aea99cd05748b",
  "iperf-lowmem": "cf582e506fb16457",
  "probe-under-pressure": "693418c1eae69e10",
  outage: "b65b29869d86a3fc",
  "fault-atomic": "025234c333ea1715",
  "fault-window": "025234c333ea1715",
  "fault-partial": "c890316cdc7f10d2",
  "swap-churn": "32378195c5e87c75",
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
