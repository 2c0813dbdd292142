/**
 * Regression fingerprints (INET-style): each preset, run for 2 simulated seconds, must execute
 * exactly the same events as when these values were recorded. A change to any model's behaviour
 * changes a fingerprint; if the change is intended, re-record the values and say why in the commit.
 */
import { describe, expect, it } from "vitest";
import { PRESET_NAMES } from "../scenario/presets.ts";
import { run } from "./run.ts";

const PINNED: Record<string, string> = {
  "seed-torrent": "5482300fbaddec75",
  "seed-torrent-mergeable": "0ee153c26268b132",
  "seed-torrent-big": "913896a048a87141",
  "iperf-lowmem": "f013cd0f832a675a",
  "probe-under-pressure": "2acd100ba7289b73",
  outage: "4744c5cff0127f13",
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
      ];
      expect(run(preset, { duration: "2s", set }).fingerprint).toBe(PINNED[preset]);
    });
  }
});
