import { describe, expect, it } from "vitest";
import { measureE2e } from "./e2e.ts";
import { formatScale, measureScalePoint, planScale, type ScaleRow } from "./scale.ts";

const key = (p: { flows: number; rate: string; duration: string }) => `${p.flows}/${p.rate}/${p.duration}`;

describe("planScale", () => {
  it("sweeps each axis from the base point and measures the shared base once", () => {
    const plan = planScale();
    // 5 flow counts + 4 rates + 5 durations, the base (1 flow, 10 Gbit/s, 10 s) on all three axes.
    expect(plan).toHaveLength(12);
    expect(plan[0]).toEqual({
      flows: 1,
      rate: "10Gbit/s",
      duration: "10s",
      axes: ["flows", "rate", "duration"],
      warm: true,
    });
    // The base comes first (it is the first flows point); each axis holds its values.
    const on = (axis: string) => new Set(plan.filter((p) => p.axes.includes(axis as never)));
    expect(new Set([...on("flows")].map((p) => p.flows))).toEqual(new Set([1, 10, 100, 1000, 10_000]));
    expect(new Set([...on("rate")].map((p) => p.rate))).toEqual(
      new Set(["100Mbit/s", "1Gbit/s", "10Gbit/s", "100Gbit/s"]),
    );
    expect(new Set([...on("duration")].map((p) => p.duration))).toEqual(
      new Set(["10s", "30s", "100s", "300s", "600s"]),
    );
    expect(new Set(plan.map(key)).size).toBe(plan.length);
  });

  it("sweeps only the axes asked for, and one value spelt two ways is one configuration", () => {
    const plan = planScale({ rates: ["1Gbit/s", "1000Mbit/s", "10Gbit/s"] });
    expect(plan.map((p) => p.rate)).toEqual(["1Gbit/s", "10Gbit/s"]);
    expect(plan.every((p) => p.flows === 1 && p.duration === "10s" && p.axes.join() === "rate")).toBe(true);
    expect(planScale({ quick: true, flows: [3] })).toEqual([
      { flows: 3, rate: "10Gbit/s", duration: "200ms", axes: ["flows"], warm: true },
    ]);
    expect(planScale({ flows: [3], cold: true })[0]!.warm).toBe(false);
  });

  it("rejects bad axis values naming the flag, the value and what is allowed", () => {
    expect(() => planScale({ flows: [0] })).toThrow(
      /--flows: 0 is not allowed; expected integers 1\.\.10000/,
    );
    expect(() => planScale({ flows: [1.5] })).toThrow(/--flows: 1.5/);
    expect(() => planScale({ flows: [10_001] })).toThrow(/--flows: 10001/);
    expect(() => planScale({ rates: ["fast"] })).toThrow(/--rates: "fast" is not allowed/);
    expect(() => planScale({ durations: ["0s"] })).toThrow(/--durations: "0s" is not allowed: must be > 0/);
    expect(() => planScale({ flows: [2] })).not.toThrow();
  });

  it("gives every configuration the --set overrides, refusing bad ones and the axes' own fields", () => {
    const set = ["apps.readers[0].rcvbuf=16KiB"];
    expect(planScale({ flows: [10, 100], set }).map((p) => p.set)).toEqual([set, set]);
    expect(planScale({ flows: [10] })[0]).not.toHaveProperty("set");
    expect(() => planScale({ flows: [10], set: ["apps.readers[0].rcvbuf=1KiB"] })).toThrow(
      /apps\.readers\[0\]\.rcvbuf = "1KiB": must be "auto" or a size from 4KiB to 64MiB/,
    );
    expect(() => planScale({ flows: [10], set: ["apps.reader.rcvbuf=16KiB"] })).toThrow(
      /unknown key "reader"/,
    );
    expect(() => planScale({ flows: [10], set: ["network.senders[0].count=3"] })).toThrow(
      "--set network.senders[0].count=3: network.senders[0].count is an axis of bench scale; use --flows",
    );
    expect(() => planScale({ flows: [10], set: ["network.uplink={rate: 1Gbit/s}"] })).toThrow(/use --rates/);
    expect(() => planScale({ flows: [10], set: ["duration=1s"] })).toThrow(/use --durations/);
    expect(() => planScale({ flows: [10], set: ["network.uplink.queueLen=500"] })).not.toThrow();
  });
});

describe("measureScalePoint", () => {
  it("measures a configuration in a child process: packets, events, its own RSS", () => {
    const r = measureScalePoint({
      flows: 2,
      rate: "100Mbit/s",
      duration: "200ms",
      axes: ["flows"],
      warm: false,
    });
    expect(r.axes).toEqual(["flows"]);
    expect(r.warmUpPackets).toBe(0);
    expect(r.packets).toBeGreaterThan(100);
    expect(r.events).toBeGreaterThan(r.packets);
    expect(r.eventsPerPacket).toBeCloseTo(r.events / r.packets, 10);
    expect(r.retransPerPacket).toBeGreaterThanOrEqual(0);
    expect(r.collapsedPerPacket).toBeGreaterThanOrEqual(0);
    expect(r.nsPerPacket).toBeCloseTo((r.wallSeconds * 1e9) / r.packets, 6);
    expect(r.cpuNsPerPacket).toBeGreaterThan(0);
    // Set-up and run split the CPU: both take some, and together they are the whole.
    expect(r.setupCpuMs).toBeGreaterThan(0);
    expect(r.runCpuNsPerPacket).toBeGreaterThan(0);
    expect(r.runCpuNsPerPacket + (r.setupCpuMs * 1e6) / r.packets).toBeCloseTo(r.cpuNsPerPacket, 3);
    expect(r.runCpuNsPerEvent * r.eventsPerPacket).toBeCloseTo(r.runCpuNsPerPacket, 6);
    expect(r.wallPerSimSecond).toBeCloseTo(r.wallSeconds / 0.2, 6);
    expect(r.startRssBytes).toBeGreaterThan(0);
    expect(r.peakRssBytes).toBeGreaterThanOrEqual(r.startRssBytes);
    // Not this process's high-water mark: the child is a fresh process.
    expect(r.load).toBeGreaterThanOrEqual(0);
  }, 60_000);

  it("runs bench e2e's scenario for 1 s first in a warm child, then the configuration", () => {
    const shape = { flows: 2, rate: "100Mbit/s", duration: "200ms" };
    const r = measureScalePoint({ ...shape, axes: ["flows"], warm: true });
    expect(r.warmUpPackets).toBe(measureE2e({ flows: 1, rate: "10Gbit/s", duration: "1s" }).packets);
    // The measured run is the configuration's own.
    expect(r.packets).toBe(measureE2e(shape).packets);
  }, 60_000);

  it("runs the configuration with its overrides", () => {
    const shape = { flows: 2, rate: "1Gbit/s", duration: "200ms" };
    const set = ["apps.readers[0].rcvbuf=32KiB"];
    const r = measureScalePoint({ ...shape, set, axes: ["flows"], warm: false });
    expect(r.set).toEqual(set);
    expect(r.packets).toBe(measureE2e({ ...shape, set }).packets);
    // A 32 KiB receive buffer holds each flow to some 2 segments per ms: far fewer packets.
    expect(r.packets).toBeLessThan(measureE2e(shape).packets / 2);
  }, 60_000);
});

describe("formatScale", () => {
  it("prints one aligned line per configuration with cost per packet and RSS in MiB", () => {
    const row: ScaleRow = {
      flows: 100,
      rate: "10Gbit/s",
      duration: "10s",
      axes: ["flows"],
      warm: true,
      packets: 2_500_000,
      events: 7_000_000,
      wallSeconds: 5,
      wallPerSimSecond: 0.5,
      packetsPerSecond: 500_000,
      nsPerPacket: 2000,
      cpuNsPerPacket: 1500,
      setupCpuMs: 250,
      runCpuNsPerPacket: 1400,
      runCpuNsPerEvent: 500,
      eventsPerPacket: 2.8,
      retransPerPacket: 0.0234,
      collapsedPerPacket: 0.5,
      warmUpPackets: 250_000,
      startRssBytes: 100 * 2 ** 20,
      peakRssBytes: 180 * 2 ** 20,
      load: 1.25,
    };
    const lines = formatScale([row]).split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^axes\s+flows\s+rate\s+duration\s+packets\s+wall s \/ sim s\s+packets\/s\s+ns\/packet/,
    );
    expect(lines[1]!.split(/\s{2,}/)).toEqual([
      "flows",
      "100",
      "10Gbit/s",
      "10s",
      "2,500,000",
      "0.500",
      "0.500 M",
      "2000",
      "1500",
      "250",
      "1400",
      "500",
      "2.80",
      "0.023",
      "0.500",
      "100",
      "180",
      "1.25",
    ]);
  });
});
