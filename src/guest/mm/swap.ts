/**
 * Swap (Linux 3.2): the anonymous LRU lists, get_scan_count's anon/file balance and the swap
 * device.
 *
 * With swap, every anonymous page is on an anon LRU list: a new page on the active list
 * (page_add_new_anon_rmap → lru_cache_add_lru(LRU_ACTIVE_ANON)), a page read back from swap on the
 * inactive one (read_swap_cache_async → lru_cache_add_anon). Reclaim deactivates from the active
 * list while inactive_anon_is_low, and on the inactive list activates pages whose pte is young
 * (page_check_references → PAGEREF_ACTIVATE) and swaps the others out (add_to_swap, pageout →
 * swap_writepage). Without swap there are no anon lists in the model: 3.2 keeps them but
 * get_scan_count never scans them.
 *
 * A page being written stays in the swap cache with PG_writeback and PG_reclaim (pageout's
 * SetPageReclaim, swap_writepage's set_page_writeback) and is not reclaimed by the pass that wrote
 * it; when the write completes, end_page_writeback → rotate_reclaimable_page moves it to the
 * inactive tail (pgrotated) and the next scan frees it (mm.ts). Reclaim throttles on the swap
 * device in two ways modelled here: its request queue (a writer needing a request when
 * nr_requests write requests are outstanding sleeps in get_request_wait until one completes), and
 * the queue's congestion flag, whose clearing wakes congestion_wait sleepers. 3.2's
 * swap_backing_dev_info never reports that congestion to may_write_to_queue (pageout: "swap_backing_dev_info
 * is bust: it doesn't reflect the congestion state of the swapdevs"), so direct reclaim writes to a
 * congested swap queue and no swap page makes a zone ZONE_CONGESTED.
 *
 * A fault on a page still in the swap cache and not under writeback maps it back without a read
 * (lookup_swap_cache, mm.ts swapIn). Simplifications: swap-in reads one page (no swapin_readahead
 * cluster) and frees its slot at once (a write fault's reuse_swap_page); a page under writeback is
 * read afresh rather than mapped while its write goes on; writes are to consecutive slots
 * (scan_swap_map's clusters), so a batch merges into one request and later batches merge into a
 * write request that has not started (the elevator's back merge); reads and writes share one request
 * count; a process that fills the queue gets no batching allowance (ioc_batching's 50 % over).
 */
import { ModelError, type Simulator } from "../../sim/simulator.ts";
import type { Ns } from "../../sim/time.ts";
import { type Kernel, WaitQueue } from "../sched/kernel.ts";
import { PageList } from "./page-table.ts";
import { PAGE_SIZE } from "./watermarks.ts";
import { congestionOffThreshold, congestionOnThreshold, DISK_IRQ } from "./writeback.ts";

/** Bound on threads blocked in swap-in at once (the scenario's hogs are at most 100). */
const MAX_READERS = 1024;

/** BLKDEV_MAX_RQ (include/linux/blkdev.h, v3.2): the swap disk's nr_requests, 128. */
export const NR_REQUESTS = 128;
const CONGESTION_ON = congestionOnThreshold(NR_REQUESTS);
const CONGESTION_OFF = congestionOffThreshold(NR_REQUESTS);
/** BLK_DEF_MAX_SECTORS (include/linux/blkdev.h, v3.2): 1024 sectors, 512 KiB = 128 pages per request. */
const MAX_REQUEST_PAGES = 128;

/** vm_swappiness (mm/vmscan.c, v3.2): 60, anon_prio; file_prio is 200 - swappiness. */
export const VM_SWAPPINESS = 60;

export interface SwapOptions {
  /** Swap space, bytes (whole pages are used). */
  sizeBytes: number;
  /** Transfer rate of the swap device, bytes/s. */
  bandwidthBytesPerSec: number;
  /** Per-request latency, ns. */
  latencyNs: Ns;
}

/**
 * calculate_zone_inactive_ratio (mm/page_alloc.c, v3.2): int_sqrt(10 × zone size in GiB), 1 below
 * 1 GiB; the inactive anon list is kept at least 1/(ratio + 1) of the anon pages.
 */
export function inactiveRatio(presentPages: number): number {
  const gb = Math.floor((presentPages * PAGE_SIZE) / 2 ** 30);
  return gb > 0 ? Math.floor(Math.sqrt(10 * gb)) : 1;
}

/** The anon LRU lists and zone->reclaim_stat (index 0 anon, 1 file). */
export class AnonLru {
  readonly active: PageList;
  readonly inactive: PageList;
  readonly ratio: number;
  readonly recentScanned = new Float64Array(2);
  readonly recentRotated = new Float64Array(2);

  constructor(nPages: number) {
    this.active = new PageList("active anon LRU", nPages);
    this.inactive = new PageList("inactive anon LRU", nPages);
    this.ratio = inactiveRatio(nPages);
  }

  get size(): number {
    return this.active.size + this.inactive.size;
  }

  /** inactive_anon_is_low_global: inactive × inactive_ratio < active. */
  inactiveIsLow(): boolean {
    return this.inactive.size * this.ratio < this.active.size;
  }

  /** The page is on one of the lists: take it off (munmap, exit, swap-out). */
  remove(pfn: number): void {
    if (this.active.has(pfn)) this.active.remove(pfn);
    else this.inactive.remove(pfn);
  }
}

/** Pages to scan this pass: get_scan_count's nr[] for the lists the model has. */
export interface ScanCount {
  inactiveAnon: number;
  activeAnon: number;
  inactiveFile: number;
  activeFile: number;
}

/**
 * get_scan_count (mm/vmscan.c, v3.2) with swap space left: anon and file pressure in proportion to
 * swappiness over each side's recently rotated fraction; anon only when file + free pages are at
 * or below the high watermark; every list whole at priority 0. `forceScan` is kswapd on an
 * all_unreclaimable zone (an empty quota becomes SWAP_CLUSTER_MAX).
 */
export function getScanCount(
  anon: AnonLru,
  inactiveFile: number,
  activeFile: number,
  free: number,
  highWmark: number,
  priority: number,
  forceScan: boolean,
  clusterMax: number,
  out: ScanCount,
): void {
  const fileSize = inactiveFile + activeFile;
  let fa = 1;
  let ff = 1;
  let denominator = 1;
  if (fileSize + free <= highWmark) {
    ff = 0;
  } else {
    const rs = anon.recentScanned;
    const rr = anon.recentRotated;
    // The floating average: halve once a quarter of the list has been scanned since.
    if (rs[0]! > anon.size / 4) {
      rs[0] = Math.floor(rs[0]! / 2);
      rr[0] = Math.floor(rr[0]! / 2);
    }
    if (rs[1]! > fileSize / 4) {
      rs[1] = Math.floor(rs[1]! / 2);
      rr[1] = Math.floor(rr[1]! / 2);
    }
    fa = Math.floor((VM_SWAPPINESS * (rs[0]! + 1)) / (rr[0]! + 1));
    ff = Math.floor(((200 - VM_SWAPPINESS) * (rs[1]! + 1)) / (rr[1]! + 1));
    denominator = fa + ff + 1;
  }
  const quota = (size: number, fraction: number): number => {
    if (priority === 0) return size;
    let scan = Math.floor(size / 2 ** priority);
    if (scan === 0 && forceScan) scan = clusterMax;
    return Math.floor((scan * fraction) / denominator);
  };
  out.inactiveAnon = quota(anon.inactive.size, fa);
  out.activeAnon = quota(anon.active.size, fa);
  out.inactiveFile = quota(inactiveFile, ff);
  out.activeFile = quota(activeFile, ff);
}

/** What the swap device calls back into when a request completes. */
export interface SwapHost {
  /** A swapped-out page's write is done: end_page_writeback. */
  swapWriteDone(pfn: number): void;
  /** The queue left congestion: clear_bdi_congested wakes congestion_wqh[BLK_RW_ASYNC]. */
  swapCongestionCleared(): void;
}

/**
 * The swap device: slots (a count: which slot holds which page does not matter to the model) and a
 * FIFO server taking latency + bytes / bandwidth per request, as the writeback disk does.
 * Counters: pswpout and pswpin (pages written and read, mm/page_io.c swap_writepage/swap_readpage).
 */
export class SwapDevice {
  readonly totalPages: number;
  used = 0;
  pswpout = 0;
  pswpin = 0;
  /** Pages being written (PG_writeback), in submission order. */
  private readonly writing: Int32Array;
  private writeHead = 0;
  private writeCount = 0;
  /** Pages queued for the write request being built (submitWrites). */
  private pendingWrite = 0;
  /** Requests in submission order: pages written (0 for a read), completion handled in order. */
  private readonly reqPages: Int32Array;
  private reqHead = 0;
  private reqCount = 0;
  /** Reads completed so far (a reader waits until its ticket is below this). */
  readsDone = 0;
  private readsIssued = 0;
  private busyUntil: Ns = 0;
  /** When the newest request starts service, and its completion event (to move it on a merge). */
  private tailStart: Ns = 0;
  private tailEvent = -1;
  private readonly evDone: number;
  /** The request queue's congestion (blk_set_queue_congested at CONGESTION_ON, cleared below CONGESTION_OFF). */
  congested = false;
  /** Writers sleeping in get_request_wait for a free request (rl->wait), woken by __freed_request. */
  readonly requestWait = new WaitQueue("swap_request");
  /** Model: sleeps in get_request_wait. */
  requestWaits = 0;
  /** Readers blocked in swap-in (do_swap_page's lock_page on a page under read). */
  readonly readWait = new WaitQueue("swap_read");

  private readonly sim: Simulator;

  constructor(
    private readonly k: Kernel,
    private readonly host: SwapHost,
    nPages: number,
    private readonly opts: SwapOptions,
    irqCpu: number,
  ) {
    this.sim = k.sim;
    if (!(opts.bandwidthBytesPerSec > 0) || !(opts.latencyNs >= 0) || !(opts.sizeBytes >= 0)) {
      throw new ModelError("swap needs a positive bandwidth, a non-negative latency and size");
    }
    this.totalPages = Math.floor(opts.sizeBytes / PAGE_SIZE);
    this.writing = new Int32Array(nPages);
    // Outstanding requests: writes hold at least one page each, reads one blocked thread each.
    this.reqPages = new Int32Array(nPages + MAX_READERS);
    // Completions arrive as the disk's do: swap on a second drive of QEMU's IDE primary channel
    // (-hdb) shares ata_piix's irq 14 with the writeback disk.
    this.evDone = this.sim.register("mm.swap_request_done", () =>
      k.hardirq(irqCpu, this.completeFn, DISK_IRQ),
    );
  }

  /** nr_swap_pages: free slots. */
  get freePages(): number {
    return this.totalPages - this.used;
  }

  /** Releases `n` slots (swap_free of pages unmapped or read back). */
  freeSlots(n: number): void {
    this.used -= n;
    if (this.used < 0) throw new ModelError(`swap: ${-this.used} more slots freed than used`);
  }

  /** get_swap_page: a slot for one page, false when swap is full. */
  allocSlot(): boolean {
    if (this.used >= this.totalPages) return false;
    this.used++;
    return true;
  }

  /** Queues pfn for the current write batch (submitted by submitWrites). */
  queueWrite(pfn: number): void {
    const cap = this.writing.length;
    this.writing[(this.writeHead + this.writeCount) % cap] = pfn;
    this.writeCount++;
    this.pendingWrite++;
  }

  /** Submits the pages queued since the last call as one request. */
  submitWrites(): void {
    if (this.pendingWrite === 0) return;
    this.pswpout += this.pendingWrite;
    this.submit(this.pendingWrite);
    this.pendingWrite = 0;
  }

  /** Submits a one-page read; returns the ticket to wait for (readDone). */
  submitRead(): number {
    this.pswpin++;
    this.submit(0);
    return this.readsIssued++;
  }

  readDone(ticket: number): boolean {
    return ticket < this.readsDone;
  }

  private submit(pages: number): void {
    const cap = this.reqPages.length;
    const transfer = (n: number) => Math.ceil((n * PAGE_SIZE * 1e9) / this.opts.bandwidthBytesPerSec);
    const tail = (this.reqHead + this.reqCount - 1) % cap;
    const queued = this.reqPages[tail]!;
    if (
      pages > 0 &&
      this.reqCount > 0 &&
      queued > 0 &&
      queued + pages <= MAX_REQUEST_PAGES &&
      this.tailStart > this.sim.now
    ) {
      // The elevator back-merges writes to consecutive slots into a request still queued.
      this.reqPages[tail]! += pages;
      this.busyUntil += transfer(pages);
      this.sim.cancel(this.tailEvent);
      this.tailEvent = this.sim.at(this.busyUntil, this.evDone);
      return;
    }
    this.tailStart = Math.max(this.sim.now, this.busyUntil);
    this.busyUntil = this.tailStart + this.opts.latencyNs + transfer(Math.max(pages, 1));
    this.reqPages[(this.reqHead + this.reqCount) % cap] = pages;
    this.reqCount++;
    if (this.reqCount >= CONGESTION_ON) this.congested = true;
    this.tailEvent = this.sim.at(this.busyUntil, this.evDone);
  }

  /**
   * get_request (block/blk-core.c, v3.2): a writer that needs a request while nr_requests are
   * allocated sleeps in get_request_wait until __freed_request makes room.
   */
  get queueFull(): boolean {
    return this.reqCount >= NR_REQUESTS;
  }

  private readonly completeFn = (): void => this.complete();

  /** The oldest request is done: end writeback on its written pages, or wake the readers. */
  private complete(): void {
    const cap = this.reqPages.length;
    const pages = this.reqPages[this.reqHead]!;
    this.reqHead = (this.reqHead + 1) % cap;
    this.reqCount--;
    if (this.congested && this.reqCount < CONGESTION_OFF) {
      this.congested = false;
      this.host.swapCongestionCleared();
    }
    if (this.reqCount < NR_REQUESTS) this.k.wakeAll(this.requestWait);
    if (pages === 0) {
      this.readsDone++;
      this.k.wakeAll(this.readWait);
      return;
    }
    const wcap = this.writing.length;
    for (let i = 0; i < pages; i++) {
      const pfn = this.writing[this.writeHead]!;
      this.writeHead = (this.writeHead + 1) % wcap;
      this.writeCount--;
      this.host.swapWriteDone(pfn);
    }
  }

  /** Requests submitted and not completed (reads and writes). */
  get requestsInFlight(): number {
    return this.reqCount;
  }

  /** Pages under writeback (the swap share of nr_writeback). */
  get writesInFlight(): number {
    return this.writeCount;
  }
}
