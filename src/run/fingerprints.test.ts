/**
 * Regression fingerprints (INET-style): each preset, run for 2 simulated seconds, must execute
 * exactly the same events as when these values were recorded. A change to any model's behaviour
 * changes a fingerprint; if the change is intended, re-record the values and say why in the commit.
 */
import { describe, expect, it } from "vitest";
import { PRESET_NAMES } from "../scenario/presets.ts";
import { run } from "./run.ts";

const PINNED: Record<string, string> = {
  "seed-torrent": "9dabbde103310958",
  "seed-torrent-mergeable": "4463a2716ec42db0",
  "seed-torrent-big": "f7c6a86c59e8a64b",
  "iperf-lowmem": "6fe9e6e358229f74",
  "probe-under-pressure": "d9d2d9fe742d9183",
  outage: "7ce6e902b3ec2da7",
  "fault-atomic": "36c3435cc06e9784",
  "fault-window": "36c3435cc06e9784",
  "fault-partial": "34dd264cf9fb3f4a",
  "swap-churn": "0092116bc32cf32d",
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
