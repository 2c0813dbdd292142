/**
 * A close-up of the first stall: the report's zoomed panel needs the ring, free memory, the host's
 * queue and what the vCPU did at millisecond resolution around the moment delivery stopped, which the
 * run's 100 ms samples cannot show. A ring buffer keeps the last CAPACITY one-millisecond samples
 * (typed arrays, nothing allocated per sample); once the first stall has closed and MARGIN has passed
 * after it, the window [stall start − MARGIN, stall end + MARGIN] is copied out and sampling stops.
 * A stall longer than the buffer keeps its last CAPACITY − MARGIN milliseconds.
 */
import { CAT_COUNT, CAT_NAMES } from "../guest/sched/costs.ts";
import type { Ns } from "../sim/time.ts";
import type { Closeup } from "./types.ts";

export const CLOSEUP_STEP_NS: Ns = 1_000_000;
/** Time shown before the stall starts and after it ends. */
export const CLOSEUP_MARGIN_NS: Ns = 250_000_000;
/** 4 s of samples: a stall of up to 3.5 s is shown whole. */
const CAPACITY = 4096;
/** CPU time is summed over bins of this many samples: it is booked when a segment starts, so
 * single milliseconds would show multi-millisecond segments as spikes. */
export const CLOSEUP_CPU_BIN = 10;

/** What the recorder reads at each sample. */
export interface CloseupSource {
  viNum(): number;
  freePages(): number;
  hostQueue(): number;
  /** Cumulative packets received by the driver. */
  rxPackets(): number;
  /** Cumulative CPU ns per category, summed over vCPUs. */
  busyByCategory(): Float64Array;
  vcpus: number;
}

export class CloseupRecorder {
  private readonly t = new Float64Array(CAPACITY);
  private readonly viNum = new Float64Array(CAPACITY);
  private readonly free = new Float64Array(CAPACITY);
  private readonly hostQ = new Float64Array(CAPACITY);
  private readonly rx = new Float64Array(CAPACITY);
  private readonly busy = new Float64Array(CAPACITY * CAT_COUNT);
  /** Next slot to write; `n` samples are held. */
  private head = 0;
  private n = 0;

  constructor(private readonly src: CloseupSource) {}

  sample(now: Ns): void {
    const i = this.head;
    const src = this.src;
    this.t[i] = now;
    this.viNum[i] = src.viNum();
    this.free[i] = src.freePages();
    this.hostQ[i] = src.hostQueue();
    this.rx[i] = src.rxPackets();
    const b = src.busyByCategory();
    for (let c = 0; c < CAT_COUNT; c++) this.busy[i * CAT_COUNT + c] = b[c]!;
    this.head = (i + 1) % CAPACITY;
    if (this.n < CAPACITY) this.n++;
  }

  /** The samples in [from, to] in time order, with per-step deltas of the cumulative counters. */
  extract(stallStart: Ns, stallEnd: Ns, refillRunTimes: readonly number[]): Closeup {
    const from = stallStart - CLOSEUP_MARGIN_NS;
    const to = stallEnd + CLOSEUP_MARGIN_NS;
    const idx: number[] = [];
    for (let k = 0; k < this.n; k++) {
      const i = (this.head - this.n + k + CAPACITY) % CAPACITY;
      const t = this.t[i]!;
      if (t >= from && t <= to) idx.push(i);
    }
    const out: Closeup = {
      stallStartNs: stallStart,
      stallEndNs: stallEnd,
      stepNs: CLOSEUP_STEP_NS,
      t: [],
      viNum: [],
      freePages: [],
      hostQueue: [],
      rxPackets: [],
      refillRunTimes: [],
      cpuBinNs: CLOSEUP_STEP_NS * CLOSEUP_CPU_BIN,
      cpuT: [],
      cpu: Object.fromEntries(CAT_NAMES.map((name) => [name, [] as number[]])),
    };
    let prev = -1;
    for (const i of idx) {
      out.t.push(this.t[i]!);
      out.viNum.push(this.viNum[i]!);
      out.freePages.push(this.free[i]!);
      out.hostQueue.push(this.hostQ[i]!);
      out.rxPackets.push(prev < 0 ? 0 : this.rx[i]! - this.rx[prev]!);
      prev = i;
    }
    // CPU share per bin: booked ns over the bin's capacity (every vCPU), by category.
    const cap = this.src.vcpus * CLOSEUP_STEP_NS * CLOSEUP_CPU_BIN;
    for (let k = CLOSEUP_CPU_BIN; k < idx.length; k += CLOSEUP_CPU_BIN) {
      const a = idx[k - CLOSEUP_CPU_BIN]!;
      const b = idx[k]!;
      out.cpuT.push(this.t[a]!);
      for (let c = 0; c < CAT_COUNT; c++) {
        const d = this.busy[b * CAT_COUNT + c]! - this.busy[a * CAT_COUNT + c]!;
        out.cpu[CAT_NAMES[c]!]!.push(d / cap);
      }
    }
    const first = out.t[0] ?? from;
    const last = out.t[out.t.length - 1] ?? to;
    for (const r of refillRunTimes) if (r >= first && r <= last) out.refillRunTimes.push(r);
    return out;
  }
}
