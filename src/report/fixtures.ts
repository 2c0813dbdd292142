/**
 * Synthetic CompareResults for the report's tests and timing: plausible shapes (a ring that runs dry,
 * free pages near the watermarks, refill_work every ~HZ/2 for the old driver), deterministic from
 * Rng, not a model of anything.
 */

import { CAT_COUNT, CAT_DRIVER, CAT_RECLAIM, CAT_TCP } from "../guest/sched/costs.ts";
import { CLOSEUP_STEP_NS, CloseupRecorder } from "../run/closeup.ts";
import {
  type Closeup,
  type CompareResult,
  emptySeries,
  type FlowSummary,
  type RunSummary,
  type Series,
} from "../run/types.ts";
import { Rng } from "../sim/rng.ts";

export interface FixtureOptions {
  drivers?: string[];
  /** Drivers to mark driverNotInLinux. */
  notInLinux?: string[];
  seeds?: number[];
  /** Samples per series. */
  points?: number;
  sampleIntervalNs?: number;
  flows?: number;
  /** Report memory.watermarkMin/Low/High and memory.allocFail. */
  withMemoryCounters?: boolean;
  /** Report guest.tryFillOom. */
  withTryFillOom?: boolean;
  /** Give each seed its own sample times (so charts fall back to the first seed). */
  jitterSampleTimes?: boolean;
}

const WMARK_MIN = 1008;

function syntheticRun(
  scenario: string,
  driver: string,
  driverIndex: number,
  seed: number,
  o: Required<FixtureOptions>,
): RunSummary {
  const rng = new Rng(seed, `report-fixture:${driver}`);
  const n = o.points;
  const health = 1 / (1 + driverIndex); // the first driver suffers most
  const series: Series = emptySeries();
  const refillRunTimes: number[] = [];
  let drops = 0;
  let nextRefill = 500_000_000 * (1 - 0.8 * (1 - health)) * (0.9 + 0.2 * rng.uniform());
  for (let i = 0; i < n; i++) {
    const jitter = o.jitterSampleTimes ? (seed % 7) * 1000 : 0;
    const t = (i + 1) * o.sampleIntervalNs + jitter;
    const dry = Math.sin(i / 23 + seed) > 1 - 1.6 * health;
    while (nextRefill <= t) {
      refillRunTimes.push(Math.round(nextRefill));
      nextRefill += 500_000_000 * (0.5 + health) * (0.9 + 0.2 * rng.uniform());
    }
    const lost = dry ? Math.round(rng.uniform() * 400 * health) : 0;
    drops += lost;
    series.t.push(t);
    series.goodputBps.push((dry ? 5e6 : 400e6 * (1.2 - health)) * (0.9 + 0.2 * rng.uniform()));
    series.viNum.push(dry ? Math.round(rng.uniform() * 8) : 128 + Math.round(rng.uniform() * 128));
    series.freePages.push(Math.round(WMARK_MIN * (0.4 + 1.4 * rng.uniform())));
    series.hostDrops.push(drops);
    series.refillRuns.push(refillRunTimes.length);
    series.cwndMean.push(dry ? 1 + 2 * rng.uniform() : 10 + 30 * rng.uniform());
    series.nrDirty.push(Math.round(5000 * rng.uniform()));
    series.nrWriteback.push(Math.round(800 * rng.uniform()));
    series.nrFilePages.push(Math.round(90_000 + 10_000 * rng.uniform()));
    series.hostQueue.push(dry ? 500 : Math.round(50 * rng.uniform()));
  }
  const simulatedNs = n * o.sampleIntervalNs;
  const flows: FlowSummary[] = [];
  for (let id = 0; id < o.flows; id++) {
    const goodputBps = (300e6 * (1.2 - health) * (0.8 + 0.4 * rng.uniform())) / o.flows;
    flows.push({
      id,
      group: id % 2,
      app: `torrent${id % 2}`,
      rttNs: 20_000_000 + 10_000_000 * (id % 3),
      bytesDelivered: Math.round((goodputBps * simulatedNs) / 8e9),
      goodputBps,
      segmentsSent: 100_000 + rng.int(1000),
      retransmits: rng.int(Math.ceil(500 * health)),
      timeouts: rng.int(Math.ceil(40 * health)),
      fastRetransmits: rng.int(100),
      cwndMean: 5 + 20 * rng.uniform(),
    });
  }
  const goodputBps = flows.reduce((s, f) => s + f.goodputBps, 0);
  const atomicFails = Math.round(5000 * health * rng.uniform());
  const memory: RunSummary["memory"] = { freePagesMin: Math.min(...series.freePages) };
  if (o.withMemoryCounters) {
    memory.watermarkMin = WMARK_MIN;
    memory.watermarkLow = WMARK_MIN + WMARK_MIN / 4;
    memory.watermarkHigh = WMARK_MIN + WMARK_MIN / 2;
    memory.allocFail = { GFP_ATOMIC: atomicFails, GFP_KERNEL: 0 };
  }
  const guest: RunSummary["guest"] = { rxPackets: 1_000_000 + rng.int(1000) };
  if (o.withTryFillOom) guest.tryFillOom = { GFP_ATOMIC: Math.round(atomicFails / 10) };
  const stallLongestMs = health > 0.3 ? 200 + Math.round(600 * health * rng.uniform()) : 0;
  const closeup = stallLongestMs > 0 ? syntheticCloseup(rng, 3_000_000_000, stallLongestMs * 1e6) : null;
  return {
    scenario,
    driver,
    driverNotInLinux: o.notInLinux.includes(driver),
    seed,
    simulatedNs,
    warmupNs: 1_000_000_000,
    wallMs: 1000 + rng.int(500),
    events: 10_000_000 + rng.int(100_000),
    eventsPerSecond: 4e6,
    fingerprint: rng.nextU32().toString(16).padStart(8, "0") + rng.nextU32().toString(16).padStart(8, "0"),
    goodputBps,
    flows,
    host: { rxPackets: 1_000_000, qdiscDrops: drops, txDropped: 0 },
    guest,
    tcp: { TCPTimeouts: flows.reduce((s, f) => s + f.timeouts, 0) },
    memory,
    stalls: {
      count: stallLongestMs > 0 ? 1 + rng.int(5) : 0,
      totalMs: stallLongestMs * 2,
      longestMs: stallLongestMs,
    },
    faults: { alloc: [], injectedBySite: {} },
    refillRunTimes,
    series,
    closeup,
    scenarioConfig: { name: scenario, guest: { driver: { version: driver }, ringSize: 256 }, seed },
    scenarioHash: `${scenario}-${driver}`,
    warnings: [],
  };
}

/**
 * A stall at `start` lasting `length` ns, recorded by the real CloseupRecorder from a made-up system:
 * the ring drains before the stall, free pages sit at the GFP_ATOMIC floor, refill_work runs every
 * 500 ms, softirq time stops while nothing arrives.
 */
function syntheticCloseup(rng: Rng, start: number, length: number): Closeup {
  let now = 0;
  let rx = 0;
  const busy = new Float64Array(CAT_COUNT);
  const inStall = () => now >= start && now < start + length;
  const rec = new CloseupRecorder({
    viNum: () => (inStall() ? 0 : Math.max(0, Math.round(((start - now) / 1e6) * 2))),
    freePages: () => Math.round(WMARK_MIN * (inStall() ? 0.37 : 0.5 + 0.3 * rng.uniform())),
    hostQueue: () => (inStall() ? Math.min(1001, Math.round((now - start) / 1e5)) : 0),
    rxPackets: () => rx,
    busyByCategory: () => busy,
    vcpus: 1,
  });
  const refills: number[] = [];
  for (let r = start + 100_000_000; r < start + length; r += 500_000_000) refills.push(r);
  for (now = start - 400_000_000; now <= start + length + 400_000_000; now += CLOSEUP_STEP_NS) {
    if (!inStall()) rx += 80 + rng.int(20);
    busy[CAT_DRIVER]! += inStall() ? 0 : 2e5;
    busy[CAT_TCP]! += inStall() ? 0 : 3e5;
    busy[CAT_RECLAIM]! += 1e5 * rng.uniform();
    rec.sample(now);
  }
  return rec.extract(start, start + length, refills);
}

/** A deterministic CompareResult: every driver × every seed. */
export function syntheticCompare(options: FixtureOptions = {}): CompareResult {
  const o: Required<FixtureOptions> = {
    drivers: ["v3.2", "patch1", "rfc-v1", "mainline"],
    notInLinux: [],
    seeds: [1, 2, 3],
    points: 600,
    sampleIntervalNs: 100_000_000,
    flows: 4,
    withMemoryCounters: true,
    withTryFillOom: true,
    jitterSampleTimes: false,
    ...options,
  };
  const scenario = "seed-torrent";
  const runs = o.drivers.flatMap((driver, i) =>
    o.seeds.map((seed) => syntheticRun(scenario, driver, i, seed, o)),
  );
  return { scenario, drivers: o.drivers, seeds: o.seeds, runs };
}
