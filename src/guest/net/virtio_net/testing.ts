/**
 * Test harness for the virtio_net driver versions (tests only): builds the whole System from a
 * scenario object plus overrides, records a trace of driver events (time, context, function), runs
 * to a time or a condition, and puts the memory model into states:
 *
 *   const h = new DriverHarness(SMALL_GUEST, { set: ["guest.hz=1000"] });
 *   h.runTo(ms(100));                  // probe; the flow is past slow start
 *   h.squeeze(8192);                   // 32 MiB of clean page cache, free memory at the GFP_ATOMIC
 *                                      // floor, freed skb memory held (sustained pressure)
 *   h.runUntil(() => h.driver.refill.runs >= 3, sec(3));
 *   console.log(formatTrace(h.trace)); // "  500.000 ms  kworker/0:0  refill_work  num=0 …"
 *
 * Tracing wraps the driver instance's methods (own properties shadowing the prototype's), so the
 * driver code itself carries no hooks and costs nothing outside tests.
 */
import { resolveScenario } from "../../../run/run.ts";
import { System, type SystemOptions } from "../../../run/system.ts";
import { ms, type Ns } from "../../../sim/time.ts";
import { EV_ALLOCFAIL_WARNED, EV_ALLOCSTALL } from "../../mm/events.ts";
import {
  __GFP_NO_KSWAPD,
  effectiveMin,
  GFP_ATOMIC,
  gfpName,
  gfpToAllocFlags,
  zoneWatermarkOk,
} from "../../mm/gfp.ts";
import { OWNER_SKB } from "../../mm/page-table.ts";
import type { KmemCache } from "../../mm/slab.ts";
import { CTX_HARDIRQ, CTX_SOFTIRQ, type Kernel, type KernelCode } from "../../sched/kernel.ts";
import type { Napi } from "../../sched/napi.ts";
import type { DelayedWork } from "../../sched/workqueue.ts";
import type { MmPort } from "../mm-port.ts";
import type { VirtnetDriver } from "./virtnet.ts";

/** One traced driver event, with the driver's state right after it. */
export interface TraceEntry {
  t: Ns;
  /** "hardirq/0", "softirq/0", "softirq/0 in ksoftirqd/0", or the thread's name ("kworker/0:0"). */
  ctx: string;
  /** The kernel function, with its argument or outcome: "try_fill_recv(GFP_KERNEL) = oom". */
  fn: string;
  /** vi->num and the ring's free descriptors. */
  num: number;
  free: number;
  /** Packets the host has put into the ring so far, and those the driver has received (rx_packets). */
  hostRx: number;
  rx: number;
  /** Buffers the driver has posted so far. */
  posted: number;
  /** Direct reclaims so far (allocstall). */
  allocstall: number;
  /** warn_alloc_failed warnings printed so far. */
  warned: number;
}

/** One refill_work run: its first and last trace entries and everything traced in between. */
export interface RefillRun {
  start: TraceEntry;
  /** null while the run has not finished. */
  end: TraceEntry | null;
  during: TraceEntry[];
}

/** An skb the driver handed to the stack (netif_receive_skb), as it was at that moment. */
export interface DeliveredSkb {
  t: Ns;
  /** skb->len, skb->truesize, and the page fragments attached (set_skb_frag). */
  len: number;
  truesize: number;
  frags: number;
  /** References to counted (page_frag) pages: build_skb's head and rx fragments of slices. */
  pageRefs: number;
}

/** The driver methods the trace wraps (some are protected in VirtnetDriver). */
interface DriverInternals {
  tryFillRecv(gfp: number): KernelCode<boolean>;
  tryFillRecvNoWait(gfp: number): boolean;
  virtnetPoll(budget: number): number;
  refillWork(): KernelCode;
  virtnetNapiEnable(): void;
  skbRecvDone(): void;
}

/** A test-only driver variant: a direct subclass of the scenario's driver class that adds no fields. */
export type DriverVariant = abstract new (...args: never[]) => VirtnetDriver;

export interface HarnessOptions extends SystemOptions {
  /** `path=value` scenario overrides (as `vnetlab run --set`). */
  set?: readonly string[];
  /** guest.driver.version */
  driver?: string;
  seed?: number;
  /**
   * Run the driver as this subclass of the scenario's driver class (its prototype is swapped in
   * before the probe runs, so it may override methods but must not declare fields).
   */
  variant?: DriverVariant;
}

/**
 * A small guest for driver tests: 64 MiB (the schema's minimum; min_free_kbytes auto = 1024, so
 * WMARK_MIN is 256 pages and GFP_ATOMIC fails at 98 free), 16 MiB of boot memory, one reader with
 * 1 MiB, one bulk flow at 2 ms RTT sending at up to 200 Mbit/s. `duration` is only the horizon the
 * schema checks times against: tests run as far as they need. Override fields with `set`.
 */
export const SMALL_GUEST = {
  name: "driver-test",
  duration: "20s",
  guest: { memory: "64MiB", baseMemory: "16MiB" },
  network: { senders: [{ count: 1, rtt: "2ms", rate: "200Mbit/s" }] },
  apps: { readers: [{ memory: "1MiB" }] },
} as const;

/** The receive buffer modes and the features virtnet_probe picks them by (big: GUEST_TSO4, mergeable: MRG_RXBUF). */
export const RX_MODES = {
  small: [],
  big: ["guest.driver.features.guestTso4=true"],
  mergeable: ["guest.driver.features.mrgRxbuf=true"],
} as const;
export type RxMode = keyof typeof RX_MODES;

/** A guest with no traffic of its own, probed, in `mode` (driver: SMALL_GUEST's unless named). */
export function idleGuest(mode: RxMode, opts: { driver?: string; indirect?: boolean } = {}): DriverHarness {
  const indirect = opts.indirect ?? true;
  const set = [...RX_MODES[mode], `guest.driver.features.indirectDesc=${indirect}`, "network.senders=[]"];
  const h = new DriverHarness(SMALL_GUEST, {
    ...(opts.driver !== undefined && { driver: opts.driver }),
    set,
  });
  // Until virtnet_probe has filled the ring (vi->max is set at its end); CFS may run the reader,
  // spawned at the same instant, first.
  if (!h.runUntil(() => h.driver.max > 0, ms(10))) throw new Error(`${mode}: virtnet_probe did not finish`);
  return h;
}

/** The context executing now, named as the trace shows it. */
export function contextName(k: Kernel): string {
  const cpu = k.cpuNow.index;
  if (k.ctx === CTX_HARDIRQ) return `hardirq/${cpu}`;
  if (k.ctx === CTX_SOFTIRQ)
    return k.current === null ? `softirq/${cpu}` : `softirq/${cpu} in ${k.current.name}`;
  return k.current?.name ?? `process/${cpu}`;
}

/** Formats trace entries one per line: "   500.004 ms  kworker/0:0  refill_work  num=0 free=256". */
export function formatTrace(entries: readonly TraceEntry[]): string {
  return entries
    .map(
      (e) =>
        `${(e.t / 1e6).toFixed(3).padStart(10)} ms  ${e.ctx.padEnd(22)} ${e.fn.padEnd(44)} ` +
        `num=${e.num} free=${e.free} host=${e.hostRx} rx=${e.rx}`,
    )
    .join("\n");
}

export class DriverHarness {
  readonly sys: System;
  readonly trace: TraceEntry[] = [];
  readonly delivered: DeliveredSkb[] = [];
  /** Pages and slab objects the harness holds for "other kernel users" (exhaustAtomicReserve). */
  private readonly heldPages: number[] = [];
  private readonly heldObjects: { cache: KmemCache; obj: number }[] = [];
  /** skbs whose kfree the harness deferred (holdFreedSkbs). */
  private readonly heldSkbs: number[] = [];
  private holdingSkbs = false;
  private readonly kfreeSkb: (skb: number) => void;

  constructor(raw: Record<string, unknown>, opts: HarnessOptions = {}) {
    // A console that costs nothing: warn_alloc_failed's ~25 ms per warning (pinned in
    // mm/fault-inject.test.ts) would swamp the few-millisecond windows these driver tests watch.
    // ACKs without skbs: the driver tests squeeze every kmem cache and watch the receive path alone
    // (a test of the transmit path sets guest.tcp.ackSkbs=true).
    const set = ["guest.costs.allocFailWarning=0ns", "guest.tcp.ackSkbs=false", ...(opts.set ?? [])];
    const scenario = resolveScenario({ raw, origin: "<test>" }, { ...opts, set });
    this.sys = new System(scenario, opts);
    if (opts.variant !== undefined) this.swapVariant(opts.variant);
    const skbs = this.sys.skbs;
    this.kfreeSkb = skbs.kfree.bind(skbs);
    skbs.kfree = (skb) => {
      if (this.holdingSkbs) this.heldSkbs.push(skb);
      else this.kfreeSkb(skb);
    };
    this.traceDriver();
  }

  get driver(): VirtnetDriver {
    return this.sys.driver;
  }
  get mm() {
    return this.sys.mm;
  }
  get k() {
    return this.sys.k;
  }
  get vq() {
    return this.sys.vq;
  }
  get host() {
    return this.sys.host;
  }
  get sim() {
    return this.sys.sim;
  }
  get now(): Ns {
    return this.sys.sim.now;
  }

  // ---- running ------------------------------------------------------------------------------

  /** Runs every event up to absolute time `t`. */
  runTo(t: Ns): void {
    this.sys.sim.run(t);
  }

  runFor(d: Ns): void {
    this.sys.sim.run(this.now + d);
  }

  /**
   * Runs until `done()` holds after an event (checked after every event), or until time `limit`.
   * Returns whether the condition was met.
   */
  runUntil(done: () => boolean, limit: Ns): boolean {
    if (done()) return true;
    const sim = this.sys.sim;
    const prev = sim.afterEvent;
    let met = false;
    sim.afterEvent = () => {
      prev?.();
      if (done()) {
        met = true;
        sim.stop();
      }
    };
    try {
      sim.run(limit);
    } finally {
      sim.afterEvent = prev;
    }
    return met;
  }

  /**
   * A frame of `bytes` (Ethernet header included) from the host network for the guest, on a flow
   * no socket owns (the stack counts it and frees the skb once the trace recorded it).
   */
  injectFrame(bytes: number): void {
    const packets = this.sys.packets;
    const p = packets.alloc();
    packets.wireLen[p] = bytes;
    packets.flow[p] = this.sys.flows.length;
    this.sys.host.deliver(p);
  }

  // ---- memory states ------------------------------------------------------------------------

  /**
   * Free pages at or below this fail a GFP_ATOMIC order-0 allocation: __zone_watermark_ok with
   * ALLOC_HIGH | ALLOC_HARDER fails when free - 2 (6.1: free) <= min - min/2 - (min - min/2)/4, about
   * 3/8 of min.
   */
  get atomicFloor(): number {
    const mm = this.sys.mm;
    return effectiveMin(mm.wmark.min, gfpToAllocFlags(GFP_ATOMIC)) + mm.era.wmarkUnusableFree;
  }

  /** Clean page cache taken from free memory (reclaimable at once, without writeback). */
  fillCleanPageCache(pages: number): void {
    this.sys.mm.prefillPageCache(pages, "clean");
  }

  /**
   * Takes every free object of the kmem caches and then free pages until a GFP_ATOMIC allocation
   * would fail, holding them as other kernel users' memory (pages owned as skb data, like socket
   * buffers of other traffic). kswapd is not woken (__GFP_NO_KSWAPD): the next allocation that
   * misses the low watermark wakes it, as it would. Returns the pages taken.
   */
  exhaustAtomicReserve(): number {
    const mm = this.sys.mm;
    for (const cache of mm.caches) {
      for (let obj = cache.alloc(); obj >= 0; obj = cache.alloc()) this.heldObjects.push({ cache, obj });
    }
    const flags = gfpToAllocFlags(GFP_ATOMIC);
    let taken = 0;
    while (zoneWatermarkOk(mm.nrFree, mm.wmark.min, flags, 0, mm.era.wmarkUnusableFree)) {
      this.heldPages.push(mm.allocPageAtomic(GFP_ATOMIC | __GFP_NO_KSWAPD, OWNER_SKB));
      taken++;
    }
    return taken;
  }

  /**
   * From now on, skbs the guest frees (read by the application, dropped by TCP, or buffers the
   * ring refused) keep their memory, as if other atomic users took it at once: pressure that
   * reclaim cannot relieve, while reclaimable memory (page cache) stays reclaimable.
   */
  holdFreedSkbs(): void {
    this.holdingSkbs = true;
  }

  /**
   * Sustained pressure from now on: `reclaimable` pages of clean page cache, free memory down to the
   * GFP_ATOMIC floor (exhaustAtomicReserve) and the memory of freed skbs held (holdFreedSkbs).
   */
  squeeze(reclaimable = 0): void {
    this.fillCleanPageCache(reclaimable);
    this.exhaustAtomicReserve();
    this.holdFreedSkbs();
  }

  /** Returns `n` of the held pages to the allocator (memory coming back a little at a time). */
  releasePages(n: number): void {
    for (const p of this.heldPages.splice(0, n)) this.sys.mm.freePage(p);
  }

  /** Returns everything held (pages, slab objects, deferred skbs) to the allocator. */
  releaseHeld(): void {
    const mm = this.sys.mm;
    this.holdingSkbs = false;
    for (const skb of this.heldSkbs.splice(0)) this.kfreeSkb(skb);
    for (const { cache, obj } of this.heldObjects.splice(0)) mm.kmemCacheFree(cache, obj);
    for (const p of this.heldPages.splice(0)) mm.freePage(p);
  }

  // ---- tracing ------------------------------------------------------------------------------

  /** Appends a trace entry for the context executing now. */
  note(fn: string): void {
    const d = this.sys.driver;
    this.trace.push({
      t: this.now,
      ctx: contextName(this.sys.k),
      fn,
      num: d.num,
      free: this.sys.vq.numFree,
      hostRx: this.sys.host.rxPacketsCount,
      rx: d.stats.rxPackets,
      posted: d.stats.buffersPosted,
      allocstall: this.sys.mm.ev[EV_ALLOCSTALL]!,
      warned: this.sys.mm.ev[EV_ALLOCFAIL_WARNED]!,
    });
  }

  /** The refill_work runs in the trace, in order. */
  refillRuns(): RefillRun[] {
    const runs: RefillRun[] = [];
    let open: RefillRun | null = null;
    for (const e of this.trace) {
      if (e.fn === "refill_work") {
        open = { start: e, end: null, during: [] };
        runs.push(open);
      } else if (open !== null) {
        if (e.fn === "refill_work done") {
          open.end = e;
          open = null;
        } else {
          open.during.push(e);
        }
      }
    }
    return runs;
  }

  private swapVariant(variant: DriverVariant): void {
    const d = this.sys.driver;
    if (Object.getPrototypeOf(variant.prototype) !== Object.getPrototypeOf(d)) {
      throw new Error(`variant ${variant.name} must directly extend the driver class of ${d.version}`);
    }
    Object.setPrototypeOf(d, variant.prototype);
  }

  private traceDriver(): void {
    const h = this;
    const d = this.sys.driver as unknown as DriverInternals;
    const { tryFillRecv, tryFillRecvNoWait, virtnetPoll, refillWork, virtnetNapiEnable, skbRecvDone } = d;
    const filled = (gfp: number, ok: boolean) => {
      h.note(`try_fill_recv(${gfpName(gfp)}) = ${ok ? "ok" : "oom"}`);
      return ok;
    };
    d.tryFillRecv = function* (gfp) {
      h.note(`try_fill_recv(${gfpName(gfp)})`);
      return filled(gfp, yield* tryFillRecv.call(this, gfp));
    };
    d.tryFillRecvNoWait = function (gfp) {
      h.note(`try_fill_recv(${gfpName(gfp)})`);
      return filled(gfp, tryFillRecvNoWait.call(this, gfp));
    };
    d.virtnetPoll = function (budget) {
      const received = virtnetPoll.call(this, budget);
      h.note(`virtnet_poll received ${received}`);
      return received;
    };
    d.refillWork = function* () {
      h.note("refill_work");
      yield* refillWork.call(this);
      h.note("refill_work done");
    };
    d.virtnetNapiEnable = function () {
      h.note("virtnet_napi_enable");
      virtnetNapiEnable.call(this);
    };
    d.skbRecvDone = function () {
      h.note("skb_recv_done");
      skbRecvDone.call(this);
    };
    this.traceDeliveries();
    this.traceNapiDisable(this.sys.driver.napi);
    this.traceScheduleRefill(this.sys.driver.refill);
    this.traceSleepingAllocs(this.sys.driver.env.mm);
  }

  private traceDeliveries(): void {
    const env = this.sys.driver.env;
    const skbs = this.sys.skbs;
    const netifReceiveSkb = env.netifReceiveSkb;
    env.netifReceiveSkb = (skb) => {
      let frags = 0;
      for (let p = skbs.frag[skb]!; p >= 0; p = skbs.pageNext[p]!) frags++;
      let pageRefs = 0;
      skbs.forEachRefPage(skb, () => pageRefs++);
      this.delivered.push({
        t: this.now,
        len: skbs.len[skb]!,
        truesize: skbs.truesize[skb]!,
        frags,
        pageRefs,
      });
      netifReceiveSkb(skb);
    };
  }

  private traceNapiDisable(napi: Napi): void {
    const h = this;
    const subsystem = this.sys.napi;
    const disableNapi = subsystem.disableNapi;
    subsystem.disableNapi = function* (n) {
      if (n === napi) h.note("napi_disable");
      yield* disableNapi.call(this, n);
      if (n === napi) h.note("napi_disable done");
    };
  }

  private traceScheduleRefill(refill: DelayedWork): void {
    const wq = this.sys.wq;
    const schedule = wq.scheduleDelayedWork.bind(wq);
    wq.scheduleDelayedWork = (w, delay) => {
      const queued = schedule(w, delay);
      if (w === refill) this.note(`schedule_delayed_work(refill, ${delay}) ${queued ? "queued" : "no-op"}`);
      return queued;
    };
  }

  /** Notes driver allocations that leave the fast path to sleep (slow path, direct reclaim). */
  private traceSleepingAllocs(port: MmPort): void {
    const h = this;
    const ev = this.sys.mm.ev;
    const wrap = <A extends unknown[]>(
      name: string,
      gfpOf: (a: A) => number,
      fn: (...a: A) => KernelCode<number>,
    ) =>
      function* (this: MmPort, ...a: A): KernelCode<number> {
        const it = fn.apply(this, a);
        let r = it.next();
        if (r.done === true) return r.value;
        const stalls = ev[EV_ALLOCSTALL]!;
        const start = h.now;
        h.note(`${name}(${gfpName(gfpOf(a))}) sleeps in the slow path`);
        while (r.done !== true) {
          yield r.value;
          r = it.next();
        }
        const us = ((h.now - start) / 1e3).toFixed(0);
        h.note(`${name} returned after ${us} us, ${ev[EV_ALLOCSTALL]! - stalls} direct reclaims`);
        return r.value;
      };
    port.allocPage = wrap("alloc_page", (a) => a[0], port.allocPage);
    port.slabAlloc = wrap("kmem_cache_alloc", (a) => a[1], port.slabAlloc);
  }
}
