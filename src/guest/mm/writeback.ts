/**
 * Dirty page cache, its writeback and the disk (mm/page-writeback.c, fs/fs-writeback.c,
 * mm/backing-dev.c, block/blk-core.c of v3.2, reduced):
 *
 * - Writers dirty pages and call balance_dirty_pages, 3.2's IO-less throttle: no pause up to the
 *   freerun ceiling (dirty_thresh + bg_thresh) / 2, then pauses sized so the task dirties at
 *   dirty_ratelimit · pos_ratio, where pos_ratio falls from 2 at the freerun ceiling through 1 at the
 *   setpoint to 0 at dirty_thresh (the global part of bdi_position_ratio), capped at bdi_max_pause.
 * - The flusher thread (the bdi's flush-N:M) writes the oldest dirty pages in requests of up to
 *   max_sectors_kb while NR_FILE_DIRTY is above the background threshold, when direct reclaim asks
 *   (wakeup_flusher_threads), and pages older than dirty_expire every dirty_writeback_interval.
 * - The disk is one FIFO server: a request takes requestLatency + bytes / bandwidth, completes in a
 *   hardirq (end_page_writeback), and the request slots give the bdi's congested state
 *   (blk_queue_congestion_threshold) and block submitters when all are in use (get_request_wait).
 *
 * Simplifications: dirty_ratelimit is the disk's write bandwidth, the estimate
 * bdi_update_dirty_ratelimit settles at with one dirtier; with N dirtiers the kernel lowers it to
 * bw/N and holds dirty pages at the setpoint, the model holds them between setpoint and limit
 * instead — the aggregate write rate is the disk bandwidth either way. The bdi part of
 * bdi_position_ratio is left out (one bdi: its setpoint is the global one) and so is the
 * per-cpu bdp_ratelimits fallback. Expiry is per page, not per inode.
 */
import { ModelError } from "../../sim/simulator.ts";
import type { Ns } from "../../sim/time.ts";
import { CAT_MM } from "../sched/costs.ts";
import type { Kernel, KernelCode, KThread } from "../sched/kernel.ts";
import { WaitQueue } from "../sched/kernel.ts";
import type { MmCosts } from "./costs.ts";
import {
  EV_DIRTY_PAUSE_JIFFIES,
  EV_DIRTY_PAUSES,
  EV_DISK_COMPLETIONS,
  EV_DISK_REQUESTS,
  EV_FLUSHER_WAKEUPS_RECLAIM,
  EV_NR_DIRTIED,
  EV_NR_VMSCAN_WRITE,
  EV_NR_WRITTEN,
  EV_PGROTATED,
} from "./events.ts";
import {
  OWNER_FREE,
  OWNER_PAGECACHE_CLEAN,
  OWNER_PAGECACHE_DIRTY,
  OWNER_PAGECACHE_WRITEBACK,
  PageList,
  type PageTable,
  PG_RECLAIM,
} from "./page-table.ts";
import type { FileLru } from "./lru.ts";
import type { MmTask } from "./task.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "./watermarks.ts";

/**
 * blk_queue_congestion_threshold (block/blk-core.c, v3.2): a queue of `nr` requests is congested
 * from nr - nr/8 + 1 allocated requests (at most nr) ...
 */
export function congestionOnThreshold(nr: number): number {
  return Math.min(nr, nr - Math.floor(nr / 8) + 1);
}

/** ... and uncongested again below nr - nr/8 - nr/16 - 1 (at least 1). */
export function congestionOffThreshold(nr: number): number {
  return Math.max(1, nr - Math.floor(nr / 8) - Math.floor(nr / 16) - 1);
}

export interface DiskOptions {
  /** Sustained write bandwidth, bytes/s. Default 100 MB/s, a 2012 disk's sequential write rate. */
  bandwidthBytesPerSec: number;
  /** Per-request overhead (virtio-blk exit, host submission, positioning), ns, serialised with the transfer. */
  requestLatencyNs: Ns;
  /** Largest request: max_sectors_kb = BLK_DEF_MAX_SECTORS (1024 sectors) = 512 KiB = 128 pages. */
  maxRequestPages: number;
  /** Request slots: q->nr_requests = BLKDEV_MAX_RQ (include/linux/blkdev.h). */
  nrRequests: number;
}

export const DEFAULT_DISK: DiskOptions = {
  bandwidthBytesPerSec: 100e6,
  requestLatencyNs: 500_000,
  maxRequestPages: 128,
  nrRequests: 128,
};

export interface WritebackOptions {
  /** vm.dirty_ratio, percent of dirtyable memory (mm/page-writeback.c: 20). */
  dirtyRatio: number;
  /** vm.dirty_background_ratio (10). */
  dirtyBackgroundRatio: number;
  /** vm.dirty_expire_centisecs (3000). */
  dirtyExpireCentisecs: number;
  /** vm.dirty_writeback_centisecs (500): the flusher's periodic wakeup. */
  dirtyWritebackCentisecs: number;
  disk: DiskOptions;
  flusherCpu: number;
  diskIrqCpu: number;
}

/**
 * The disk's interrupt as irq:irq_handler_entry names it. The flusher is flush-8:0, an sd disk:
 * QEMU's default IDE disk, driven by ata_piix on the legacy primary-channel irq 14 (assumption: the
 * model does not say which controller; ata_piix request_irq's with the driver's name).
 */
export const DISK_IRQ = 14;
export const DISK_IRQ_NAME = "ata_piix";

export const DEFAULT_WRITEBACK: Omit<WritebackOptions, "disk"> = {
  dirtyRatio: 20,
  dirtyBackgroundRatio: 10,
  dirtyExpireCentisecs: 3000,
  dirtyWritebackCentisecs: 500,
  flusherCpu: 0,
  diskIrqCpu: 0,
};

/** What writeback needs from the memory model. */
export interface WritebackHost {
  readonly k: Kernel;
  readonly pt: PageTable;
  readonly lru: FileLru;
  readonly ev: Float64Array;
  readonly costs: MmCosts;
  charge(ns: Ns, cat: number): void;
}

/** RATELIMIT_CALC_SHIFT: pos_ratio's fixed point (mm/page-writeback.c). */
const RATELIMIT_CALC_SHIFT = 10;
const POS_ONE = 1 << RATELIMIT_CALC_SHIFT;

/** ilog2 of a positive integer. */
function ilog2(x: number): number {
  return Math.floor(Math.log2(x));
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

/** dirty_poll_interval: pages a task may dirty before the next check, ~sqrt of the headroom. */
export function dirtyPollInterval(dirty: number, thresh: number): number {
  return thresh > dirty ? 2 ** (ilog2(thresh - dirty) >> 1) : 1;
}

/**
 * The global part of bdi_position_ratio in RATELIMIT_CALC_SHIFT fixed point: 0 at or above the
 * limit, else 1 + ((setpoint - dirty) / (limit - setpoint + 1))^3 with setpoint midway between the
 * freerun ceiling and the limit.
 */
export function posRatio(dirty: number, freerun: number, limit: number): number {
  if (dirty >= limit) return 0;
  const setpoint = Math.floor((freerun + limit) / 2);
  const x = Math.trunc(((setpoint - dirty) * POS_ONE) / (limit - setpoint + 1));
  let pos = x;
  pos = Math.floor((pos * x) / POS_ONE);
  pos = Math.floor((pos * x) / POS_ONE);
  return pos + POS_ONE;
}

export class Writeback {
  readonly disk: DiskOptions;
  /** Dirty page-cache pages in the order they were dirtied (head = oldest). */
  readonly dirty: PageList;
  /** Per page, allocated with the first dirty page (see PageList). */
  private dirtiedAt = new Float64Array(0);
  /** Pages under writeback in submission order; the FIFO disk completes them in that order. */
  private wbRing = new Int32Array(0);
  private wbHead = 0;
  private wbCount = 0;
  /** Pages of each submitted request, in submission order. */
  private readonly reqPages: Int32Array;
  /** When each queued request completes on the disk (FIFO: completion times never decrease). */
  private readonly reqFinish: Float64Array;
  private reqHead = 0;
  private reqQueued = 0;
  /** Allocated request slots (rl->count[BLK_RW_ASYNC]), including one being filled. */
  reqCount = 0;
  private diskBusyUntil: Ns = 0;
  /** BDI_async_congested: set at congestion_on requests, cleared below congestion_off. */
  congested = false;
  readonly congestionOn: number;
  readonly congestionOff: number;
  /** Write bandwidth in pages/s (the bdi's avg_write_bandwidth once settled). */
  readonly writeBandwidth: number;
  readonly requestWait = new WaitQueue("blk_get_request");
  /** congestion_wqh[BLK_RW_ASYNC]: congestion_wait sleepers, woken as requests complete uncongested. */
  readonly congestionWait = new WaitQueue("congestion_wqh");
  private readonly flusherWait = new WaitQueue("bdi_writeback");
  readonly flusher: KThread;
  /** Pages asked for by wakeup_flusher_threads and not yet written. */
  private pendingWork = 0;
  private lastOldFlush: Ns = 0;
  private oldCutoff: Ns = -1;
  private chunkCutoff: Ns = Number.POSITIVE_INFINITY;
  bgThresh = 0;
  dirtyThresh = 0;
  /** bdi->dirty_exceeded: writers check every 8 pages while set. */
  dirtyExceeded = false;
  private readonly evComplete: number;
  /** bdi->wb.wakeup_timer (bdi_wakeup_thread_delayed). */
  private readonly wakeupTimer: number;
  private readonly endRequestFn = (): void => this.endRequests();
  /** Readers waiting for their read request (readPages); woken at each read's completion. */
  private readonly readWait = new WaitQueue("read_page_wait");
  private readonly evReadDone: number;

  constructor(
    private readonly host: WritebackHost,
    readonly opts: WritebackOptions,
  ) {
    const d = opts.disk;
    this.disk = d;
    if (!(d.bandwidthBytesPerSec > 0) || !(d.requestLatencyNs >= 0)) {
      throw new ModelError(`disk needs a positive bandwidth and a non-negative latency`);
    }
    if (
      !Number.isInteger(d.maxRequestPages) ||
      d.maxRequestPages < 1 ||
      !Number.isInteger(d.nrRequests) ||
      d.nrRequests < 2
    ) {
      throw new ModelError(`disk needs maxRequestPages ≥ 1 and nrRequests ≥ 2`);
    }
    const n = host.pt.nPages;
    this.dirty = new PageList("dirty list", n);
    this.reqPages = new Int32Array(d.nrRequests);
    this.reqFinish = new Float64Array(d.nrRequests);
    this.congestionOn = congestionOnThreshold(d.nrRequests);
    this.congestionOff = congestionOffThreshold(d.nrRequests);
    const reqNs = d.requestLatencyNs + (d.maxRequestPages * PAGE_SIZE * 1e9) / d.bandwidthBytesPerSec;
    this.writeBandwidth = Math.max(1, Math.floor((d.maxRequestPages * 1e9) / reqNs));
    const k = host.k;
    k.requestIrq(DISK_IRQ, DISK_IRQ_NAME);
    this.evComplete = k.sim.register("mm.disk_request_done", () =>
      k.hardirq(opts.diskIrqCpu, this.endRequestFn, DISK_IRQ),
    );
    const readDone = (): void => k.wakeAll(this.readWait);
    this.evReadDone = k.sim.register("mm.disk_read_done", () =>
      k.hardirq(opts.diskIrqCpu, readDone, DISK_IRQ),
    );
    this.wakeupTimer = k.sim.createTimer(
      k.sim.register("mm.bdi_wakeup_timer", () => k.wakeAll(this.flusherWait)),
    );
    this.flusher = k.spawn("flush-8:0", opts.flusherCpu, () => this.flusherThread());
  }

  /** When the oldest queued request finishes (Infinity: none queued). */
  get nextCompletion(): number {
    return this.reqQueued > 0 ? this.reqFinish[this.reqHead]! : Number.POSITIVE_INFINITY;
  }

  get nrWriteback(): number {
    return this.wbCount;
  }

  /** A newly written page-cache page: dirty, on the LRU (lru_cache_add_file) and the dirty list. */
  addDirtyPage(pfn: number): void {
    this.host.lru.addHead(pfn);
    this.markDirty(pfn);
  }

  /** A clean page-cache page written (set_page_dirty): onto the dirty list. */
  setPageDirty(pfn: number): void {
    this.host.pt.move(pfn, OWNER_PAGECACHE_CLEAN, OWNER_PAGECACHE_DIRTY);
    this.markDirty(pfn);
  }

  /** __set_page_dirty_nobuffers and __mark_inode_dirty for a page that just became dirty. */
  private markDirty(pfn: number): void {
    // __mark_inode_dirty: the first dirty data of a bdi without dirty io arms its thread's wakeup
    // timer, dirty_writeback_interval ahead (bdi_wakeup_thread_delayed); the thread then keeps
    // waking at that interval while data is dirty, so old data gets written.
    if (this.dirty.size === 0 && !this.writebackInProgress()) {
      const k = this.host.k;
      const j = k.jiffies.msecsToJiffies(this.opts.dirtyWritebackCentisecs * 10);
      k.sim.armTimer(this.wakeupTimer, k.jiffies.timerExpiry(k.now, j));
    }
    this.dirty.addTail(pfn);
    if (this.dirtiedAt.length === 0) {
      this.dirtiedAt = new Float64Array(this.dirty.nPages);
      this.wbRing = new Int32Array(this.dirty.nPages);
    }
    this.dirtiedAt[pfn] = this.host.k.now;
    this.host.ev[EV_NR_DIRTIED]!++;
  }

  /**
   * global_dirty_limits with determine_dirtyable_memory = free + file LRU pages + 1 (no swap, so
   * anonymous pages do not count); bg_thresh is halved when not below dirty_thresh.
   */
  updateDirtyLimits(): void {
    const avail = this.host.pt.counts[OWNER_FREE]! + this.host.lru.size + 1;
    const dirty = Math.floor((this.opts.dirtyRatio * avail) / 100);
    let bg = Math.floor((this.opts.dirtyBackgroundRatio * avail) / 100);
    if (bg >= dirty) bg = Math.floor(dirty / 2);
    this.bgThresh = bg;
    this.dirtyThresh = dirty;
  }

  /** writeback_in_progress(bdi): the flusher is not idle on its wait queue. */
  writebackInProgress(): boolean {
    return this.flusherWait.waiters.length === 0;
  }

  /** bdi_start_background_writeback: wakes the flusher, which checks over_bground_thresh. */
  startBackgroundWriteback(): void {
    this.host.k.wakeAll(this.flusherWait);
  }

  /** wakeup_flusher_threads(nr_pages) from do_try_to_free_pages: write that many pages now. */
  wakeupFlusher(nrPages: number): void {
    this.pendingWork += nrPages;
    this.host.ev[EV_FLUSHER_WAKEUPS_RECLAIM]!++;
    this.host.k.wakeAll(this.flusherWait);
  }

  /**
   * balance_dirty_pages_ratelimited_nr's test: counts pages the task dirtied and says whether it
   * is time to call balanceDirtyPages (every nr_dirtied_pause pages, or 8 while dirty_exceeded).
   */
  dirtied(task: MmTask, pages: number): boolean {
    task.nrDirtied += pages;
    let ratelimit = task.nrDirtiedPause;
    if (this.dirtyExceeded) ratelimit = Math.min(ratelimit, 32 >> (PAGE_SHIFT - 10));
    return task.nrDirtied >= ratelimit;
  }

  /** balance_dirty_pages (v3.2, IO-less), reduced as described at the top of this file. */
  *balanceDirtyPages(task: MmTask): KernelCode {
    const k = this.host.k;
    const pagesDirtied = task.nrDirtied;
    const hz = k.jiffies.hz;
    const counts = this.host.pt.counts;
    const ratelimit = this.writeBandwidth;
    let pause = 0;
    let maxPause = 4;
    let nrDirty = 0;
    let dirtyExceeded = false;
    for (;;) {
      nrDirty = counts[OWNER_PAGECACHE_DIRTY]! + counts[OWNER_PAGECACHE_WRITEBACK]!;
      this.updateDirtyLimits();
      const thresh = this.dirtyThresh;
      // dirty_freerun_ceiling: no throttling while background writeback can catch up.
      const freerun = Math.floor((thresh + this.bgThresh) / 2);
      if (nrDirty <= freerun) break;
      if (!this.writebackInProgress()) this.startBackgroundWriteback();
      dirtyExceeded = nrDirty > thresh;
      if (dirtyExceeded) this.dirtyExceeded = true;
      maxPause = this.maxPause(nrDirty);
      const pos = posRatio(nrDirty, freerun, thresh);
      if (pos === 0) {
        pause = maxPause;
      } else {
        const taskRatelimit = Math.floor((ratelimit * pos) / POS_ONE);
        pause = Math.floor((hz * pagesDirtied) / (taskRatelimit | 1));
        if (pause <= 0) {
          // Too short to sleep: go on dirtying, and keep nr_dirtied_pause as it is.
          pause = 1;
          break;
        }
        pause = Math.min(pause, maxPause);
      }
      this.host.ev[EV_DIRTY_PAUSES]!++;
      this.host.ev[EV_DIRTY_PAUSE_JIFFIES]! += pause;
      yield k.sleepJiffies(pause);
      // Below dirty_thresh one pause is enough ("max-pause area"); above it, pause again.
      if (nrDirty < thresh) break;
    }
    if (!dirtyExceeded && this.dirtyExceeded) this.dirtyExceeded = false;
    task.nrDirtied = 0;
    // Adapt the check period so that pauses land in (max_pause/4, max_pause).
    if (pause === 0) {
      task.nrDirtiedPause = dirtyPollInterval(nrDirty, this.dirtyThresh);
    } else if (pause <= maxPause / 4 && pagesDirtied >= task.nrDirtiedPause) {
      task.nrDirtiedPause = clamp(
        Math.floor((ratelimit * Math.floor(maxPause / 2)) / hz),
        pagesDirtied + Math.floor(pagesDirtied / 8),
        pagesDirtied * 4,
      );
    } else if (pause >= maxPause) {
      task.nrDirtiedPause =
        1 |
        clamp(
          Math.floor((ratelimit * Math.floor(maxPause / 2)) / hz),
          Math.floor(pagesDirtied / 4),
          pagesDirtied - Math.floor(pagesDirtied / 8),
        );
    }
    if (!this.writebackInProgress() && counts[OWNER_PAGECACHE_DIRTY]! > this.bgThresh) {
      this.startBackgroundWriteback();
    }
  }

  /**
   * bdi_max_pause: 20 ms for one dirtier (HZ/50; dirty_ratelimit equals the bandwidth here, so the
   * concurrency term is 0), no longer than an eighth of the time to write out bdi_dirty, clamped to
   * [4 jiffies, MAX_PAUSE = HZ/5].
   */
  private maxPause(bdiDirty: number): number {
    const hz = this.host.k.jiffies.hz;
    let t = Math.floor(hz / 50);
    if (bdiDirty > 0) t = Math.min(t, Math.floor((bdiDirty * hz) / (8 * this.writeBandwidth + 1)));
    return clamp(t, 4, Math.max(Math.floor(hz / 5), 1));
  }

  /**
   * kswapd's pageout() of dirty pages it met at high reclaim priority: they become writeback pages
   * with PG_reclaim (rotated to the LRU tail when done) and go out as one request, as the plugged
   * single-page bios of one shrink_page_list pass merge.
   */
  *pageout(pfns: Int32Array, count: number): KernelCode {
    yield* this.getRequest();
    const pt = this.host.pt;
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const p = pfns[i]!;
      // The flusher may have taken it while this thread waited for a request slot.
      if (pt.owner[p] !== OWNER_PAGECACHE_DIRTY) continue;
      this.dirty.remove(p);
      pt.flags[p]! |= PG_RECLAIM;
      this.startPageWriteback(p);
      sent++;
    }
    if (sent === 0) {
      this.putRequest();
      return;
    }
    this.host.ev[EV_NR_VMSCAN_WRITE]! += sent;
    this.host.charge(sent * this.host.costs.writebackPage, CAT_MM);
    this.startRequest(sent);
  }

  private *flusherThread(): KernelCode {
    const k = this.host.k;
    const intervalJiffies = k.jiffies.msecsToJiffies(this.opts.dirtyWritebackCentisecs * 10);
    for (;;) {
      const want = this.nextChunk();
      if (want === 0) {
        // bdi_writeback_thread: sleep until woken, or until the next periodic flush while dirty.
        yield k.waitOn(this.flusherWait, this.dirty.size > 0 ? intervalJiffies : -1);
        continue;
      }
      yield* this.getRequest();
      const sent = this.submitDirty(want);
      if (sent === 0) this.putRequest();
      yield k.cpu();
    }
  }

  /**
   * wb_do_writeback's order: queued work (direct reclaim's requests) first, then old data every
   * dirty_writeback_interval (wb_check_old_data_flush), then background writeback while
   * NR_FILE_DIRTY exceeds the background threshold. Returns the pages for the next request.
   */
  private nextChunk(): number {
    const d = this.dirty;
    if (d.size === 0) {
      this.pendingWork = 0;
      return 0;
    }
    const max = this.disk.maxRequestPages;
    this.chunkCutoff = Number.POSITIVE_INFINITY;
    if (this.pendingWork > 0) return Math.min(max, this.pendingWork);
    const now = this.host.k.now;
    const interval = this.opts.dirtyWritebackCentisecs * 10_000_000;
    if (now - this.lastOldFlush >= interval) {
      this.lastOldFlush = now;
      this.oldCutoff = now - this.opts.dirtyExpireCentisecs * 10_000_000;
    }
    if (this.dirtiedAt[d.head]! <= this.oldCutoff) {
      this.chunkCutoff = this.oldCutoff;
      return max;
    }
    this.updateDirtyLimits();
    return this.host.pt.counts[OWNER_PAGECACHE_DIRTY]! > this.bgThresh ? max : 0;
  }

  /** Sends up to `want` of the oldest dirty pages (dirtied by chunkCutoff) as one request. */
  private submitDirty(want: number): number {
    const d = this.dirty;
    let sent = 0;
    while (sent < want && d.size > 0 && this.dirtiedAt[d.head]! <= this.chunkCutoff) {
      const p = d.head;
      d.remove(p);
      this.startPageWriteback(p);
      sent++;
    }
    if (sent > 0) {
      this.pendingWork = Math.max(0, this.pendingWork - sent);
      this.host.charge(sent * this.host.costs.writebackPage, CAT_MM);
      this.startRequest(sent);
    }
    return sent;
  }

  private startPageWriteback(p: number): void {
    this.host.pt.move(p, OWNER_PAGECACHE_DIRTY, OWNER_PAGECACHE_WRITEBACK);
    this.wbRing[(this.wbHead + this.wbCount) % this.wbRing.length] = p;
    this.wbCount++;
  }

  /** get_request_wait: a request slot, sleeping while all nr_requests are in use. */
  private *getRequest(): KernelCode {
    while (this.reqCount >= this.disk.nrRequests) yield this.host.k.waitOn(this.requestWait);
    this.reqCount++;
    if (this.reqCount >= this.congestionOn) this.congested = true;
  }

  /** __freed_request: clear congestion (waking congestion_wait sleepers) and wake a submitter. */
  private putRequest(): void {
    this.reqCount--;
    const k = this.host.k;
    if (this.reqCount < this.congestionOff) {
      // clear_bdi_congested wakes congestion_wqh whether or not the bdi was congested.
      this.congested = false;
      k.wakeAll(this.congestionWait);
    }
    k.wakeOne(this.requestWait);
  }

  /**
   * A synchronous read of `pages` pages (mpage_readpages → submit_bio, then wait_on_page_locked in
   * do_generic_file_read): a request after those already queued on the FIFO disk, read at the
   * write bandwidth (the model's disk has one rate); the caller sleeps until its completion
   * interrupt. Reads take no request slot: 3.2's reads and writes have separate request lists.
   */
  *readPages(pages: number): KernelCode {
    const d = this.disk;
    const k = this.host.k;
    const start = Math.max(k.now, this.diskBusyUntil);
    const finish = start + d.requestLatencyNs + Math.ceil((pages * PAGE_SIZE * 1e9) / d.bandwidthBytesPerSec);
    this.diskBusyUntil = finish;
    this.host.ev[EV_DISK_REQUESTS]!++;
    k.sim.at(finish, this.evReadDone, 0, 0);
    while (k.now < finish) yield k.waitOn(this.readWait);
  }

  private startRequest(pages: number): void {
    const d = this.disk;
    const k = this.host.k;
    const start = Math.max(k.now, this.diskBusyUntil);
    const finish = start + d.requestLatencyNs + Math.ceil((pages * PAGE_SIZE * 1e9) / d.bandwidthBytesPerSec);
    this.diskBusyUntil = finish;
    const slot = (this.reqHead + this.reqQueued) % this.reqPages.length;
    this.reqPages[slot] = pages;
    this.reqFinish[slot] = finish;
    this.reqQueued++;
    this.host.ev[EV_DISK_REQUESTS]!++;
    k.sim.at(finish, this.evComplete, 0, 0);
  }

  /**
   * The disk interrupt: like virtio_blk's blk_done, which takes every finished request off the
   * virtqueue, it completes all requests done by now. One interrupt may stand for several when the
   * vCPU was descheduled (pending interrupts coalesce); a later one may then find none.
   */
  private endRequests(): void {
    const now = this.host.k.now;
    while (this.reqQueued > 0 && this.reqFinish[this.reqHead]! <= now) this.endRequest();
  }

  /** end_page_writeback for each page of the oldest request. */
  private endRequest(): void {
    const host = this.host;
    const pt = host.pt;
    const n = this.reqPages[this.reqHead]!;
    this.reqHead = (this.reqHead + 1) % this.reqPages.length;
    this.reqQueued--;
    for (let i = 0; i < n; i++) {
      const p = this.wbRing[this.wbHead]!;
      this.wbHead = (this.wbHead + 1) % this.wbRing.length;
      this.wbCount--;
      pt.move(p, OWNER_PAGECACHE_WRITEBACK, OWNER_PAGECACHE_CLEAN);
      if ((pt.flags[p]! & PG_RECLAIM) !== 0) {
        // rotate_reclaimable_page: reclaim met this page dirty; put it where reclaim looks next.
        pt.flags[p]! &= ~PG_RECLAIM;
        if (host.lru.moveToTail(p)) host.ev[EV_PGROTATED]!++;
      }
    }
    host.ev[EV_NR_WRITTEN]! += n;
    host.ev[EV_DISK_COMPLETIONS]!++;
    host.charge(n * host.costs.writebackEnd, CAT_MM);
    this.putRequest();
  }

  /** The dirty list holds exactly the dirty pages, the ring exactly the writeback pages. */
  check(): void {
    const pt = this.host.pt;
    const seen = new Uint8Array(pt.nPages);
    const nd = this.dirty.check((p) => pt.owner[p] === OWNER_PAGECACHE_DIRTY, seen);
    if (nd !== pt.counts[OWNER_PAGECACHE_DIRTY]) {
      throw new ModelError(`dirty list holds ${nd} pages but ${pt.counts[OWNER_PAGECACHE_DIRTY]} are dirty`);
    }
    seen.fill(0);
    for (let i = 0; i < this.wbCount; i++) {
      const p = this.wbRing[(this.wbHead + i) % this.wbRing.length]!;
      if (pt.owner[p] !== OWNER_PAGECACHE_WRITEBACK || seen[p] !== 0) {
        throw new ModelError(`writeback ring entry ${i}: pfn ${p} is not a distinct writeback page`);
      }
      seen[p] = 1;
    }
    if (this.wbCount !== pt.counts[OWNER_PAGECACHE_WRITEBACK]) {
      throw new ModelError(
        `writeback ring holds ${this.wbCount} pages but ${pt.counts[OWNER_PAGECACHE_WRITEBACK]} are under writeback`,
      );
    }
    let inRequests = 0;
    for (let i = 0; i < this.reqQueued; i++)
      inRequests += this.reqPages[(this.reqHead + i) % this.reqPages.length]!;
    if (inRequests !== this.wbCount) {
      throw new ModelError(`disk requests carry ${inRequests} pages but ${this.wbCount} are under writeback`);
    }
    if (this.reqQueued > this.reqCount || this.reqCount > this.disk.nrRequests) {
      throw new ModelError(
        `${this.reqQueued} queued of ${this.reqCount} allocated requests (max ${this.disk.nrRequests})`,
      );
    }
  }
}
