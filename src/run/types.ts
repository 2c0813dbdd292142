/**
 * The results a run produces: what `vnetlab run --json` prints, what `compare` aggregates, what the
 * reports plot and the sweep store keeps. Counter names follow the kernel's (/proc/vmstat,
 * /proc/net/netstat, driver fields) and the VMMs' (Firecracker's net metrics) where they exist.
 */
import type { ScenarioWarning } from "../scenario/schema.ts";

export interface FlowSummary {
  id: number;
  /** Index of the sender group in scenario.network.senders. */
  group: number;
  /** Name of the reader application that owns the socket. */
  app: string;
  rttNs: number;
  /** Bytes the application read (goodput numerator). */
  bytesDelivered: number;
  goodputBps: number;
  segmentsSent: number;
  retransmits: number;
  /** RTO expiries (LINUX_MIB_TCPTIMEOUTS). */
  timeouts: number;
  fastRetransmits: number;
  /** Time-averaged congestion window, in segments. */
  cwndMean: number;
}

/** One upload: a guest TCP sender towards a peer (apps.readers[].torrent.uploadPeers). */
export interface UploadSummary {
  /** The upload's flow id (after the download flows) and the download flow of the same peer. */
  flow: number;
  peerFlow: number;
  app: string;
  /** Bytes the peer acknowledged, and their rate over the run. */
  bytesAcked: number;
  goodputBps: number;
  segmentsSent: number;
  retransmits: number;
  timeouts: number;
  /** sk_stream_wait_memory sleeps on a full sk_sndbuf, and the most sk_wmem_queued, bytes. */
  sndbufWaits: number;
  wmemQueuedMax: number;
  /** tcp_transmit_skb's skb_clone failures (the segment stayed queued). */
  cloneFailures: number;
}

export interface StallSummary {
  /** Periods of ≥ 100 ms with no packet delivered by the driver (after warm-up). */
  count: number;
  totalMs: number;
  longestMs: number;
}

/** Sampled time series, one value per sample time (column-oriented). */
export interface Series {
  /** Sample times, ns since the start of the run. */
  t: number[];
  /** Application goodput over the last interval, bit/s. */
  goodputBps: number[];
  /** vi->num: buffers posted to the rx ring. */
  viNum: number[];
  freePages: number[];
  /** Cumulative host drops (qdisc + tap). */
  hostDrops: number[];
  /** Cumulative refill_work runs. */
  refillRuns: number[];
  /** Mean congestion window over flows, segments. */
  cwndMean: number[];
  nrDirty: number[];
  nrWriteback: number[];
  /** Page-cache pages (clean + dirty + writeback). */
  nrFilePages: number[];
  /** Packets queued at the host (tap socket + qdisc). */
  hostQueue: number[];
}

/** A Series with no samples yet. */
export function emptySeries(): Series {
  return {
    t: [],
    goodputBps: [],
    viNum: [],
    freePages: [],
    hostDrops: [],
    refillRuns: [],
    cwndMean: [],
    nrDirty: [],
    nrWriteback: [],
    nrFilePages: [],
    hostQueue: [],
  };
}

/**
 * The first stall at millisecond resolution (src/run/closeup.ts): times in ns since the start of the
 * run; rxPackets per step; cpu[category] the share of the vCPUs' time booked in each cpuBinNs bin.
 */
export interface Closeup {
  stallStartNs: number;
  stallEndNs: number;
  stepNs: number;
  t: number[];
  viNum: number[];
  freePages: number[];
  hostQueue: number[];
  rxPackets: number[];
  refillRunTimes: number[];
  cpuBinNs: number;
  cpuT: number[];
  cpu: Record<string, number[]>;
}

/** One allocation fault injector's counters (scenario faults.alloc[i]). */
export interface FaultInjectorSummary {
  type: string;
  /** Calls that reached should_fail (past the gfp and order filters, inside the window). */
  calls: number;
  /** Failures injected, in all and by rx allocation site. */
  injected: number;
  bySite: Record<string, number>;
}

export interface RunSummary {
  scenario: string;
  driver: string;
  /** True for refill policies of ours that were never in Linux. */
  driverNotInLinux: boolean;
  seed: number;
  simulatedNs: number;
  warmupNs: number;
  wallMs: number;
  events: number;
  eventsPerSecond: number;
  fingerprint: string;
  /** Aggregate application goodput after warm-up, bit/s. */
  goodputBps: number;
  flows: FlowSummary[];
  /** Present when the scenario uploads. */
  uploads?: UploadSummary[];
  host: Record<string, number>;
  guest: Record<string, number | Record<string, number>>;
  tcp: Record<string, number>;
  memory: Record<string, number | Record<string, number>>;
  stalls: StallSummary;
  /** Fault injection: per injector, and failures injected by site over all injectors. */
  faults: { alloc: FaultInjectorSummary[]; injectedBySite: Record<string, number> };
  /** refill_work start times, ns (for plots and spacing statistics). */
  refillRunTimes: number[];
  series: Series;
  /** The first stall after warm-up at 1 ms resolution; null when nothing stalled. */
  closeup: Closeup | null;
  /** The resolved scenario the run used (for reports and reproduction). */
  scenarioConfig: unknown;
  scenarioHash: string;
  /** What validation found questionable but allowed (e.g. hogs beyond memory: an expected OOM kill). */
  warnings: ScenarioWarning[];
}

export interface CompareResult {
  scenario: string;
  drivers: string[];
  seeds: number[];
  runs: RunSummary[];
}
