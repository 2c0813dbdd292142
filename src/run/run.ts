/**
 * The library API behind `vnetlab run` and `vnetlab compare`: resolve a scenario (preset, file or
 * object, plus overrides), build the system, run it with periodic sampling, and summarise every
 * model's counters. Synchronous and deterministic: the same scenario and seed give the same
 * RunSummary except for wallMs and eventsPerSecond.
 */
import { totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import { CAT_COUNT, CAT_NAMES } from "../guest/sched/costs.ts";
import { SOFTIRQ_WORK_BUCKETS } from "../guest/sched/kernel.ts";
import { STEAL_COTENANT, STEAL_OUTAGE, STEAL_VHOST } from "../host/pcpu.ts";
import { gfpName } from "../guest/mm/gfp.ts";
import { applyOverrides } from "../scenario/overrides.ts";
import { parseScenario, readScenario, scenarioHash } from "../scenario/load.ts";
import { ALLOC_SITES, PAGE_SIZE, type Scenario, scenarioWarnings } from "../scenario/schema.ts";
import { formatDuration, formatSize } from "../scenario/units.ts";
import { CLOSEUP_MARGIN_NS, CLOSEUP_STEP_NS, CloseupRecorder } from "./closeup.ts";
import {
  type Closeup,
  type CompareResult,
  emptySeries,
  type FaultInjectorSummary,
  type FlowSummary,
  type UploadSummary,
  type RunSummary,
  type Series,
} from "./types.ts";
import { System, type SystemOptions } from "./system.ts";
import { startTrace, type TraceSetup } from "./trace-setup.ts";

/** A preset name or file path, or an already-read raw scenario object. */
export type ScenarioSource = string | { raw: unknown; origin?: string };

export interface ResolveOptions {
  /** guest.driver.version */
  driver?: string;
  seed?: number;
  /** e.g. "10s" */
  duration?: string;
  /** Extra `path=value` assignments, applied first. */
  set?: readonly string[];
}

export interface RunOptions extends ResolveOptions, SystemOptions {
  /** Called about every simulated 1 % of the run with (simulated ns done, total). */
  onProgress?: (doneNs: number, totalNs: number) => void;
  /** Called once the system is built, before its first event (benchmarks time set-up apart). */
  onStart?: () => void;
  /** Tracepoints to record (src/run/trace.ts builds this). */
  trace?: TraceSetup;
  /** Limits the run is refused or stopped at (default: defaultBudget()). */
  budget?: Budget;
}

// ---- Budgets ----
//
// A scenario can ask for more than the machine has (a million flows, a 64 GiB guest, 1 ms samples
// over hours). The estimate refuses such a run before it starts; the check every 1 % of a run stops
// one that grows past the budget anyway, before V8 would abort the process. The per-item costs are
// measured (`process.memoryUsage()` around building a System, Node 20, x86-64) and rounded up.

/** Resident bytes of an empty run: the model's code, pools and one guest's fixed state. */
const BASE_BYTES = 64 * 2 ** 20;
/** Bytes per flow: its sender, receiver and socket state (≈ 21.5 KB measured with 10 000 flows). */
const FLOW_BYTES = 24 * 1024;
/** Bytes per guest page: the page table's typed arrays (≈ 42 B measured with 64 GiB). */
const PAGE_BYTES = 48;
/** Bytes per sample: 11 series of doubles in growable arrays (8 B each, up to 2× while growing). */
const SAMPLE_BYTES = 11 * 16;
/** Output characters per sample in summary.json (11 pretty-printed numbers, about 30 chars each). */
const SAMPLE_CHARS = 11 * 32;
/** Output characters per flow in a summary (its FlowSummary, about 350 chars pretty-printed). */
const FLOW_CHARS = 512;
/** Output characters of a summary besides flows and series (counters, the scenario). */
const SUMMARY_CHARS = 64 * 1024;
/** V8's longest string (2^29 − 24 characters on 64-bit Node): one output text cannot be longer. */
export const MAX_OUTPUT_CHARS = 2 ** 29 - 24;

export interface Budget {
  /** Resident memory a run may use, bytes. */
  memoryBytes: number;
  /** Characters one output text (a run's summary, a comparison) may have. */
  outputChars: number;
}

/** Half of the machine's memory, and no more than V8's heap limit; outputs half of V8's longest string. */
export function defaultBudget(): Budget {
  return {
    memoryBytes: Math.min(Math.floor(totalmem() / 2), getHeapStatistics().heap_size_limit),
    outputChars: Math.floor(MAX_OUTPUT_CHARS / 2),
  };
}

export interface RunEstimate {
  flows: number;
  samples: number;
  memoryBytes: number;
  /** Characters of the run's summary as JSON. */
  outputChars: number;
}

/** What a run of `s` will take, from the sizes that grow: flows, guest pages and samples. */
export function estimateRun(s: Scenario): RunEstimate {
  const flows = s.network.senders.reduce((n, g) => n + g.count, 0);
  const samples = Math.floor(s.duration / s.sampleInterval);
  return {
    flows,
    samples,
    memoryBytes:
      BASE_BYTES + flows * FLOW_BYTES + (s.guest.memory / PAGE_SIZE) * PAGE_BYTES + samples * SAMPLE_BYTES,
    outputChars: SUMMARY_CHARS + flows * FLOW_CHARS + samples * SAMPLE_CHARS,
  };
}

/** A run that does not fit the budget (exit 2: the scenario asks for too much). */
export class BudgetError extends Error {
  override name = "BudgetError";
}

const mib = (bytes: number): string => `${Math.ceil(bytes / 2 ** 20)} MiB`;

/**
 * Refuses `runs` runs of `s` (outputs of `runs` summaries together) when the estimate exceeds the
 * budget, with the estimate and what drives it.
 */
export function checkBudget(s: Scenario, budget: Budget = defaultBudget(), runs = 1): RunEstimate {
  const e = estimateRun(s);
  const sizes = `${e.flows} flows, ${formatSize(s.guest.memory)} of guest memory, ${e.samples} samples`;
  if (e.memoryBytes > budget.memoryBytes) {
    throw new BudgetError(
      `scenario ${s.name} needs about ${mib(e.memoryBytes)} of memory (${sizes}); the budget is ` +
        `${mib(budget.memoryBytes)} (raise it with --max-memory, or use fewer flows, less memory or a longer sampleInterval)`,
    );
  }
  if (e.outputChars * runs > budget.outputChars) {
    throw new BudgetError(
      `scenario ${s.name} would write about ${mib(e.outputChars * runs)} of results (${sizes}` +
        `${runs > 1 ? `, ${runs} runs` : ""}); the limit is ${mib(budget.outputChars)} ` +
        `(use a longer sampleInterval, a shorter duration or fewer flows)`,
    );
  }
  return e;
}

/** Stops a run whose memory has grown past the budget or close to V8's heap limit, at time `t`. */
function checkGrowth(budget: Budget, t: number): void {
  const rss = process.memoryUsage.rss();
  const heap = getHeapStatistics();
  if (rss > budget.memoryBytes || heap.used_heap_size > 0.9 * heap.heap_size_limit) {
    throw new BudgetError(
      `run stopped at ${formatDuration(t)}: it uses ${mib(rss)} (heap ${mib(heap.used_heap_size)} of ` +
        `${mib(heap.heap_size_limit)}), past the budget of ${mib(budget.memoryBytes)}`,
    );
  }
}

/** Reads and validates a scenario with the run's overrides; throws ScenarioError on bad input. */
export function resolveScenario(source: ScenarioSource, opts: ResolveOptions = {}): Scenario {
  const { raw, origin } =
    typeof source === "string" ? readScenario(source) : { origin: "<scenario>", ...source };
  const set = [...(opts.set ?? [])];
  if (opts.driver !== undefined) set.push(`guest.driver.version=${opts.driver}`);
  if (opts.seed !== undefined) set.push(`seed=${opts.seed}`);
  if (opts.duration !== undefined) set.push(`duration=${opts.duration}`);
  return parseScenario(set.length > 0 ? applyOverrides(raw, set) : raw, origin);
}

/** Runs one resolved scenario. */
export function runScenario(s: Scenario, opts: RunOptions = {}): RunSummary {
  const budget = opts.budget ?? defaultBudget();
  checkBudget(s, budget);
  const wallStart = performance.now();
  const sys = new System(s, opts);
  const sim = sys.sim;
  if (opts.trace !== undefined) startTrace(sys, opts.trace);
  const series = emptySeries();
  const sampler = new Sampler(sys, series);
  const evSample = sim.register(
    "run.sample",
    () => {
      sampler.sample();
      if (sim.now + s.sampleInterval <= s.duration) sim.after(s.sampleInterval, evSample);
    },
    { observer: true },
  );
  sim.at(s.sampleInterval, evSample);
  const closeup = new CloseupRecorder({
    viNum: () => sys.driver.num,
    freePages: () => sys.mm.nrFree,
    hostQueue: () => sys.host.tap.queued + sys.host.tap.qdiscQueued,
    rxPackets: () => sys.driver.stats.rxPackets,
    busyByCategory: () => sys.k.busyByCategory(),
    vcpus: s.guest.vcpus,
  });
  let closeupResult: Closeup | null = null;
  const stallDone = () => sys.stalls.firstEnd >= 0 && sim.now >= sys.stalls.firstEnd + CLOSEUP_MARGIN_NS;
  const evCloseup = sim.register(
    "run.closeup_sample",
    () => {
      closeup.sample(sim.now);
      if (stallDone()) {
        closeupResult = closeup.extract(
          sys.stalls.firstStart,
          sys.stalls.firstEnd,
          sys.driver.stats.refillRunTimes,
        );
      } else if (sim.now + CLOSEUP_STEP_NS <= s.duration) {
        sim.after(CLOSEUP_STEP_NS, evCloseup);
      }
    },
    { observer: true },
  );
  // Samples start a margin before the warm-up ends: stalls are counted only after it.
  sim.at(Math.max(s.warmup - CLOSEUP_MARGIN_NS, CLOSEUP_STEP_NS), evCloseup);
  opts.onStart?.();
  const step = Math.max(Math.floor(s.duration / 100), 1);
  for (let t = 0; t < s.duration; ) {
    t = Math.min(t + step, s.duration);
    sim.run(t);
    checkGrowth(budget, t);
    opts.onProgress?.(t, s.duration);
  }
  sys.stalls.close(s.duration);
  // A stall that ran to the end of the run (or ended within the margin of it).
  if (closeupResult === null && sys.stalls.firstEnd >= 0) {
    closeupResult = closeup.extract(
      sys.stalls.firstStart,
      sys.stalls.firstEnd,
      sys.driver.stats.refillRunTimes,
    );
  }
  const wallMs = performance.now() - wallStart;
  return summarise(sys, series, wallMs, closeupResult);
}

/** resolveScenario + runScenario. */
export function run(source: ScenarioSource, opts: RunOptions = {}): RunSummary {
  return runScenario(resolveScenario(source, opts), opts);
}

export interface CompareOptions extends Omit<RunOptions, "driver" | "seed" | "onProgress"> {
  drivers: readonly string[];
  /** Seeds to run each driver with (default: the scenario's seed). */
  seeds?: readonly number[];
  /** Called after each run with (runs done, runs total, the run). */
  onRun?: (done: number, total: number, r: RunSummary) => void;
  onProgress?: (doneNs: number, totalNs: number, runIndex: number, runs: number) => void;
}

/** Runs every driver × seed on the same scenario; all inputs are validated before anything runs. */
export function compare(source: ScenarioSource, opts: CompareOptions): CompareResult {
  const base = resolveScenario(source, opts);
  const seeds = opts.seeds ?? [base.seed];
  const plan = opts.drivers.flatMap((driver) =>
    seeds.map((seed) => resolveScenario(source, { ...opts, driver, seed })),
  );
  for (const s of plan) checkBudget(s, opts.budget, plan.length);
  const runs: RunSummary[] = [];
  plan.forEach((s, i) => {
    const r = runScenario(s, {
      ...opts,
      onProgress: (d, total) => opts.onProgress?.(d, total, i, plan.length),
    });
    runs.push(r);
    opts.onRun?.(i + 1, plan.length, r);
  });
  return { scenario: base.name, drivers: [...opts.drivers], seeds: [...seeds], runs };
}

function hostDrops(sys: System): number {
  const tap = sys.host.tap;
  return tap.qdiscDrops + tap.txDropped;
}

/** Samples gauges at a fixed interval (counters, not logs: a few numbers per interval). */
class Sampler {
  private lastRead = 0;
  private lastT = 0;
  constructor(
    private readonly sys: System,
    private readonly series: Series,
  ) {}

  sample(): void {
    const sys = this.sys;
    const now = sys.sim.now;
    const s = this.series;
    const read = sys.bytesReadTotal;
    s.t.push(now);
    s.goodputBps.push(((read - this.lastRead) * 8 * 1e9) / Math.max(now - this.lastT, 1));
    this.lastRead = read;
    this.lastT = now;
    s.viNum.push(sys.driver.num);
    s.freePages.push(sys.mm.nrFree);
    s.hostDrops.push(hostDrops(sys));
    s.refillRuns.push(sys.driver.refill.runs);
    s.cwndMean.push(sys.senders.length > 0 ? sys.cwndTotal.segments / sys.senders.length : 0);
    const st = sys.mm.pt.counts;
    s.nrDirty.push(st[4]!);
    s.nrWriteback.push(st[5]!);
    s.nrFilePages.push(sys.mm.lru.size);
    s.hostQueue.push(sys.host.tap.queued + sys.host.tap.qdiscQueued);
  }
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 === 1 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

/**
 * What the guest saw of its host, summed over vCPUs: /proc/stat `steal` (in ns here, not USER_HZ
 * ticks), descheduled periods and the longest, and packets handled per __do_softirq run (the
 * backlog a vCPU drains when it returns), as max, mean and log2 buckets ("2-3": runs of 2–3 packets).
 */
/** The torrent clients' counters summed (apps.readers[].torrent); nothing when there are none. */
function uploadSummaries(sys: System): UploadSummary[] {
  const s = sys.scenario;
  return sys.uploads.map((u, i) => {
    const f = sys.uploadPeers[i]!;
    const c = u.tcpCounters;
    return {
      flow: u.flow,
      peerFlow: f.id,
      app: s.apps.readers[f.reader]!.name,
      bytesAcked: u.tcp.sndUna,
      goodputBps: (u.tcp.sndUna * 8 * 1e9) / s.duration,
      segmentsSent: c.outSegs,
      retransmits: c.retransSegs,
      timeouts: c.rtoExpiries,
      sndbufWaits: u.counters.sndbufWaits,
      wmemQueuedMax: u.counters.wmemQueuedHighWater,
      cloneFailures: c.xmitFailures,
    };
  });
}

/** The guest senders' counters summed, beside the receivers' (absent without uploads). */
function uploadTcpCounters(sys: System): Record<string, number> {
  if (sys.uploads.length === 0) return {};
  const sum = (pick: (u: (typeof sys.uploads)[number]) => number) =>
    sys.uploads.reduce((a, u) => a + pick(u), 0);
  return {
    /** Tcp OutSegs / RetransSegs, TcpExt TCPTimeouts-like RTO expiries of the guest's own senders. */
    uploadOutSegs: sum((u) => u.tcpCounters.outSegs),
    uploadRetransSegs: sum((u) => u.tcpCounters.retransSegs),
    uploadRtoExpiries: sum((u) => u.tcpCounters.rtoExpiries),
    uploadFastRetrans: sum((u) => u.tcpCounters.tcpFastRetrans),
    /** Pure ACKs the guest received for its uploads (each took an rx buffer). */
    uploadAcksIn: sum((u) => u.tcpCounters.acksIn),
    uploadBytesAcked: sum((u) => u.tcp.sndUna),
    /** sk_stream_wait_memory sleeps: sk_wmem_queued at sk_sndbuf. */
    sndbufWaits: sum((u) => u.counters.sndbufWaits),
    /** The most sk_wmem_queued of any upload socket, bytes. */
    wmemQueuedMax: Math.max(...sys.uploads.map((u) => u.counters.wmemQueuedHighWater)),
    /** sk_stream_alloc_skb failures in tcp_sendmsg (GFP_KERNEL), and skb_clone failures (GFP_ATOMIC). */
    sendmsgAllocFailures: sum((u) => u.counters.allocFailures),
    cloneAllocFailures: sum((u) => u.tcpCounters.xmitFailures),
  };
}

function torrentCounters(sys: System): { torrent?: Record<string, number> } {
  if (sys.torrentClients.length === 0) return {};
  const total: Record<string, number> = {};
  for (const c of sys.torrentClients)
    for (const [key, n] of Object.entries(c.counters)) total[key] = (total[key] ?? 0) + n;
  return { torrent: total };
}

function vcpuHostCounters(sys: System): Record<string, number | Record<string, number>> {
  const cpus = sys.k.cpus;
  const total = (pick: (c: (typeof cpus)[number]) => number) => cpus.reduce((a, c) => a + pick(c), 0);
  const runs = total((c) => c.softirqDone);
  const hist: Record<string, number> = {};
  for (let b = 0; b < SOFTIRQ_WORK_BUCKETS; b++) {
    const lo = b === 0 ? 0 : 2 ** (b - 1);
    const name =
      b === 0 ? "0" : b === SOFTIRQ_WORK_BUCKETS - 1 ? `${lo}+` : lo === 1 ? "1" : `${lo}-${2 * lo - 1}`;
    hist[name] = total((c) => c.softirqWorkHist[b]!);
  }
  return {
    stealNs: total((c) => c.stealNs),
    descheduledPeriods: total((c) => c.descheduledPeriods),
    irqsDeferred: total((c) => c.irqsDeferred),
    longestDescheduledMs: Math.max(...cpus.map((c) => c.longestDescheduledNs)) / 1e6,
    softirqDoRuns: runs,
    softirqPacketsMax: Math.max(...cpus.map((c) => c.softirqWorkMax)),
    softirqPacketsMean: runs > 0 ? total((c) => c.softirqWorkSum) / runs : 0,
    softirqPackets: hist,
  };
}

function summarise(sys: System, series: Series, wallMs: number, closeup: Closeup | null): RunSummary {
  const s = sys.scenario;
  const sim = sys.sim;
  const measured = s.duration - s.warmup;
  const d = sys.driver;
  const st = d.stats;
  const runTimes = st.refillRunTimes;
  const spacings = runTimes.slice(1).map((t, i) => t - runTimes[i]!);
  const cpu: Record<string, number> = {};
  const busy = sys.k.busyByCategory();
  for (let i = 0; i < CAT_COUNT; i++) cpu[CAT_NAMES[i]!] = busy[i]! / 1e6;
  const flows: FlowSummary[] = sys.flows.map((f) => {
    const snd = sys.senders[f.id]!;
    const rx = sys.stack.receivers[f.id]!;
    const c = snd.counters;
    return {
      id: f.id,
      group: f.group,
      app: s.apps.readers[f.reader]!.name,
      rttNs: f.rtt,
      bytesDelivered: rx.counters.bytesRead,
      goodputBps: (rx.counters.bytesRead * 8 * 1e9) / s.duration,
      segmentsSent: c.outSegs,
      retransmits: c.retransSegs,
      timeouts: c.rtoExpiries,
      fastRetransmits: c.tcpFastRetrans,
      cwndMean: snd.cwndIntegral() / Math.max(s.duration - f.start, 1),
    };
  });
  const uploads = uploadSummaries(sys);
  const sum = (pick: (f: FlowSummary) => number) => flows.reduce((a, f) => a + pick(f), 0);
  const rxSum = (k: keyof (typeof sys.stack.receivers)[number]["counters"]) =>
    sys.stack.receivers.reduce((a, r) => a + (r.counters[k] as number), 0);
  const tap = sys.host.tap;
  const tx = sys.tx.stats;
  const vm = sys.mm.vmstat();
  const injectedBySite: Record<string, number> = {};
  for (const site of ALLOC_SITES) injectedBySite[site] = 0;
  const injectors: FaultInjectorSummary[] = (sys.mm.faults?.all ?? []).map((a) => {
    const bySite: Record<string, number> = {};
    ALLOC_SITES.forEach((site, i) => {
      bySite[site] = a.injectedBySite[i]!;
      injectedBySite[site]! += a.injectedBySite[i]!;
    });
    return { type: a.opts.kind, calls: a.calls, injected: a.injected, bySite };
  });
  const allocFail: Record<string, number> = {};
  for (const [gfp, n] of sys.mm.failuresByGfp) allocFail[gfpName(gfp)] = n;
  return {
    scenario: s.name,
    driver: sys.driverName,
    driverNotInLinux: sys.driverNotInLinux,
    seed: sys.seed,
    simulatedNs: s.duration,
    warmupNs: s.warmup,
    wallMs,
    events: sim.events,
    eventsPerSecond: sim.events / Math.max(wallMs / 1000, 1e-9),
    fingerprint: sim.fingerprint.digest(),
    goodputBps: (sys.bytesReadAfterWarmup * 8 * 1e9) / Math.max(measured, 1),
    flows,
    ...(uploads.length > 0 && { uploads }),
    host: {
      rx_packets_count: sys.host.rxPacketsCount,
      rx_bytes_count: sys.host.rxBytesCount,
      no_rx_avail_buffer: sys.host.noRxAvailBuffer,
      rx_queue_event_count: sys.host.rxQueueEventCount,
      // get_rx_bufs (src/host/vhost-net.ts): frames over several buffers, waits for enough buffers.
      rxMultiBufferFrames: sys.host.rxMultiBufferFrames,
      rxBuffersPerFrame: sys.host.rxBuffersUsed / Math.max(sys.host.rxPacketsCount, 1),
      rxMaxNumBuffers: sys.host.rxMaxNumBuffers,
      rxTooFewBuffers: sys.host.rxTooFewBuffers,
      rxOverruns: sys.host.rxOverruns,
      rxGsoFrames: sys.host.rxGsoFrames,
      rxGsoSegments: sys.host.rxGsoSegments,
      interrupts_injected: sys.host.interruptsInjected,
      tx_packets_count: sys.host.txPacketsCount,
      tx_bytes_count: sys.host.txBytesCount,
      tx_queue_event_count: sys.host.txQueueEventCount,
      tx_interrupts_injected: sys.host.txInterruptsInjected,
      tapTxPackets: tap.txPackets,
      txFifoErrors: tap.txFifoErrors,
      txDropped: tap.txDropped,
      qdiscDrops: tap.qdiscDrops,
      hostDrops: hostDrops(sys),
      maxTapQueue: tap.maxSockQueue,
      maxQdiscQueue: tap.maxQdisc,
      uplinkQueueDrops: sys.uplink.queueDrops,
      uplinkOutageDrops: sys.uplink.outageDrops,
      hostBusyMs: sys.host.busyNs / 1e6,
      // host.cpu (src/host/pcpu.ts): steal by cause, over all vCPUs.
      stealVhostMs: sys.hostCpus.stealByCause[STEAL_VHOST]! / 1e6,
      stealCoTenantMs: sys.hostCpus.stealByCause[STEAL_COTENANT]! / 1e6,
      stealOutageMs: sys.hostCpus.stealByCause[STEAL_OUTAGE]! / 1e6,
      coTenantBursts: sys.hostCpus.coTenantBursts,
    },
    guest: {
      rx_packets: st.rxPackets,
      rx_bytes: st.rxBytes,
      rx_dropped_nomem: st.rxDroppedNoMem,
      rx_length_errors: st.rxLengthErrors,
      rxSkbAllocFailures: st.rxSkbAllocFailures,
      pageFragHighOrder: st.pageFragHighOrder,
      pageFragOrder0Fallbacks: st.pageFragOrder0Fallbacks,
      pageFragFailures: st.pageFragFailures,
      buffersPosted: st.buffersPosted,
      buffersConsumed: st.buffersConsumed,
      buffersFreedNoSpace: st.buffersFreedNoSpace,
      vi_max: d.max,
      vi_num: d.num,
      driverPages: d.pagesCount,
      /** Memory the driver holds besides posted buffers (vi->pages, reserves, recycled buffers). */
      driverHeldBytes: d.heldBytes(),
      policy: d.policyCounters(),
      refillWorkRuns: d.refill.runs,
      refillSpacingMedianMs: median(spacings) / 1e6,
      refillQueuedNoop: d.refill.queuedNoop,
      tryFillCalls: { ...st.tryFillCalls },
      tryFillOom: { ...st.tryFillOom },
      napiDisabledMs: d.napi.disabledNs / 1e6,
      napiPolls: d.napi.polls,
      kicks: sys.vq.kicks,
      notifications: sys.vq.notifications,
      interrupts: st.interrupts,
      indirectAllocFailures: sys.vq.indirectAllocFailures,
      // The send queue (virtio_net/tx.ts): dev->stats and virtnet_sq_stats names where they exist.
      tx_packets: tx.txPackets,
      tx_bytes: tx.txBytes,
      tx_dropped: tx.txDropped,
      txRingFull: tx.txRingFull,
      txQueueWakes: tx.txQueueWakes,
      txSkbsOutstanding: tx.outstanding,
      txSkbsOutstandingMax: tx.maxOutstanding,
      txQdiscDrops: tx.qdiscDrops,
      txQdiscMax: tx.maxQdisc,
      txInterrupts: tx.interrupts,
      txKicks: sys.txVq.kicks,
      txNotifications: sys.txVq.notifications,
      txIndirectAllocFailures: sys.txVq.indirectAllocFailures,
      timeSqueeze: sys.k.cpus.reduce((a, c) => a + c.timeSqueeze, 0),
      ...vcpuHostCounters(sys),
      cpuMs: cpu,
      ...torrentCounters(sys),
    },
    tcp: {
      OutSegs: sum((f) => f.segmentsSent),
      RetransSegs: sum((f) => f.retransmits),
      TCPTimeouts: sum((f) => f.timeouts),
      TCPFastRetrans: sum((f) => f.fastRetransmits),
      InSegs: rxSum("segsIn"),
      acksSent: rxSum("acksSent"),
      DelayedACKs: rxSum("delayedAcks"),
      OfoQueued: rxSum("ofoQueued"),
      PruneCalled: rxSum("pruneCalled"),
      RcvPruned: rxSum("rcvPruned"),
      OfoPruned: rxSum("ofoPruned"),
      TCPRcvCollapsed: rxSum("rcvCollapsed"),
      collapseAllocFailures: rxSum("collapseAllocFailures"),
      TCPMemoryPressures: sys.tcpMem.memoryPressures,
      /** tcp_memory_allocated at the end and at its peak, and tcp_mem[0..2], pages. */
      tcpMemoryAllocated: sys.tcpMem.allocated,
      tcpMemoryAllocatedMax: sys.tcpMem.maxAllocated,
      tcpMemLow: sys.tcpMem.mem[0],
      tcpMemPressure: sys.tcpMem.mem[1],
      tcpMemHigh: sys.tcpMem.mem[2],
      rmemDrops: rxSum("rmemDrops"),
      outOfWindowDrops: rxSum("outOfWindowDrops"),
      zeroWindowAcks: rxSum("zeroWindowAcks"),
      /** tcp_send_ack's alloc_skb failed: the ACK waited for the delayed-ACK timer. */
      ackAllocFailures: rxSum("ackAllocFailures"),
      ...uploadTcpCounters(sys),
    },
    memory: {
      ...vm,
      watermarkMin: sys.mm.wmark.min,
      watermarkLow: sys.mm.wmark.low,
      watermarkHigh: sys.mm.wmark.high,
      totalPages: sys.mm.nPages,
      allocFail,
      /** Page-allocator failures of callers that could not sleep (softirq, spinlock holders). */
      allocFailAtomic: vm.allocfail_atomic!,
      oomKills: sys.mm.oomKills.length,
      /** Memory hogs started again after an OOM kill (apps.memoryHogs[].restart). */
      hogRestarts: sys.hogs.reduce((n, h) => n + h.restarts, 0),
    },
    stalls: {
      count: sys.stalls.count,
      totalMs: sys.stalls.totalNs / 1e6,
      longestMs: sys.stalls.longestNs / 1e6,
    },
    faults: { alloc: injectors, injectedBySite },
    refillRunTimes: [...runTimes],
    series,
    closeup,
    scenarioConfig: s,
    scenarioHash: scenarioHash(s),
    warnings: scenarioWarnings(s),
  };
}
