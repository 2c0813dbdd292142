/**
 * The guest's memory: one zone of order-0 pages with the v3.2 page allocator (fast path against
 * WMARK_LOW, slow path against WMARK_MIN with the gfp's allowances, direct reclaim, retries, the OOM
 * killer; 6.1's watermarks, OOM decision and kswapd when the era says so, kernel-era.ts), its per-cpu
 * page lists (pcp.ts: the watermark checks count buddy pages only, and only direct reclaim drains
 * the lists), kswapd, page reclaim of the file LRU, anonymous memory of
 * tasks, the kmem caches of the rx path, and the page cache with its writeback (writeback.ts).
 *
 * One zone: a 1 GiB x86_64 guest has ZONE_DMA (16 MiB) and ZONE_DMA32; GFP_KERNEL/GFP_ATOMIC
 * allocations use DMA32 and fall back to DMA only behind its lowmem_reserve (DMA32 size / 256 ≈ 4
 * MiB), and watermarks are split in proportion to zone size, so the sum behaves as one zone with
 * min_free_kbytes; bigger guests add ZONE_NORMAL the same way. No buddy fragmentation: every
 * allocation is order 0 (virtio_net's pages are order 0; slabs are order 0, see slab.ts).
 *
 * Reclaim scans the inactive and active file lists (lru.ts): page-cache pages enter the inactive
 * list (lru_cache_add_file), a second mark_page_accessed activates them, shrink_active_list
 * deactivates while active > inactive, and page_check_references gives an unmapped page with
 * PG_referenced PAGEREF_RECLAIM_CLEAN: freed when clean, kept from pageout once when dirty.
 * Without swap anonymous pages are not reclaimable (get_scan_count scans anon lists 0 times); with
 * it they are written out to the swap device and freed by a later scan (swap.ts). Slab
 * shrinking of dentries and inodes is not modelled; shrink_slab runs the shrinkers registered
 * here (shrinker.ts), after each priority pass over the LRU.
 */
import { ModelError } from "../../sim/simulator.ts";
import { ERA_3_2, type KernelEraParams, OOM_SHOULD_RECLAIM_RETRY } from "../kernel-era.ts";
import {
  TP_KMALLOC,
  TP_KMEM_CACHE_ALLOC,
  TP_MARK_VICTIM,
  TP_MM_PAGE_ALLOC,
  TP_MM_PAGE_FREE,
  TP_MM_VMSCAN_DIRECT_RECLAIM_BEGIN,
  TP_MM_VMSCAN_DIRECT_RECLAIM_END,
  TP_MM_VMSCAN_KSWAPD_SLEEP,
  TP_MM_VMSCAN_KSWAPD_WAKE,
  TP_MM_VMSCAN_WAKEUP_KSWAPD,
} from "../../sim/trace.ts";
import type { Ns } from "../../sim/time.ts";
import { CAT_MM, CAT_RECLAIM } from "../sched/costs.ts";
import {
  CTX_PROCESS,
  type Kernel,
  type KernelCode,
  type KThread,
  ReturnedCode,
  WaitQueue,
} from "../sched/kernel.ts";
import { DEFAULT_MM_COSTS, type MmCosts } from "./costs.ts";
import {
  EV_ALLOCFAIL_ATOMIC,
  EV_ALLOCFAIL_INJECTED,
  EV_ALLOCFAIL_PROCESS,
  EV_ALLOCFAIL_WARN_SUPPRESSED,
  EV_ALLOCFAIL_WARNED,
  EV_ALLOCSTALL,
  EV_CONGESTION_WAITS,
  EV_COUNT,
  EV_KSWAPD_HIGH_WMARK_HIT_QUICKLY,
  EV_KSWAPD_LOW_WMARK_HIT_QUICKLY,
  EV_KSWAPD_SKIP_CONGESTION_WAIT,
  EV_KSWAPD_WAKEUPS,
  EV_NAMES,
  EV_NR_VMSCAN_IMMEDIATE,
  EV_NR_VMSCAN_WRITE,
  EV_OOM_KILL,
  EV_PAGEOUTRUN,
  EV_PGALLOC,
  EV_PGFREE,
  EV_PGSCAN_DIRECT,
  EV_PGSCAN_KSWAPD,
  EV_PGSTEAL_DIRECT,
  EV_PGROTATED,
  EV_PGSTEAL_KSWAPD,
  EV_VMSCAN_THROTTLED_CONGESTED,
  EV_VMSCAN_THROTTLED_NOPROGRESS,
  EV_VMSCAN_THROTTLED_WRITEBACK,
} from "./events.ts";
import { ShrinkerList } from "./shrinker.ts";
import { FAULT_CTX_PROCESS, FAULT_CTX_SOFTIRQ, type FaultInjection, SITE_NONE } from "./fault-inject.ts";
import {
  __GFP_FS,
  __GFP_NO_KSWAPD,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_WAIT,
  ALLOC_CPUSET,
  ALLOC_WMARK_HIGH,
  GFP_HIGHUSER_MOVABLE,
  gfpName,
  gfpToAllocFlags,
  zoneWatermarkOk,
} from "./gfp.ts";
import {
  EXTERNAL_OWNER,
  OWNER_ANON,
  OWNER_KERNEL_RESERVED,
  OWNER_COUNT,
  OWNER_FREE,
  OWNER_PAGECACHE_CLEAN,
  OWNER_PAGECACHE_DIRTY,
  OWNER_PAGECACHE_WRITEBACK,
  OWNER_PAGE_FRAG,
  OWNER_SLAB,
  OWNER_SWAPCACHE,
  ownerName,
  PageTable,
  PG_RECLAIM,
  PG_WRITEBACK,
} from "./page-table.ts";
import { FileLru } from "./lru.ts";
import { allocflagsToMigratetype, PerCpuPages } from "./pcp.ts";
import { KmemCache } from "./slab.ts";
import {
  AnonLru,
  getScanCount,
  type ScanCount,
  SwapDevice,
  type SwapHost,
  type SwapOptions,
} from "./swap.ts";
import { type OomRules, selectBadProcess } from "./oom.ts";
import { MmTask, SWAPPED_OUT, swapCached, swapCachedPfn } from "./task.ts";
import {
  defaultMinFreeKbytes,
  kswapdBalanceGap,
  PAGE_SIZE,
  WATERMARK_SCALE_FACTOR_DEFAULT,
  type Watermarks,
  zoneWatermarksFor,
} from "./watermarks.ts";
import {
  DEFAULT_DISK,
  DEFAULT_WRITEBACK,
  type DiskOptions,
  Writeback,
  type WritebackHost,
} from "./writeback.ts";

/** The highest order allocPagesAtomic serves: SKB_FRAG_PAGE_ORDER = get_order(32768) (include/net/sock.h). */
export const MAX_MODELLED_ORDER = 3;

/** SWAP_CLUSTER_MAX (include/linux/swap.h): reclaim batch and direct reclaim's nr_to_reclaim. */
export const SWAP_CLUSTER_MAX = 32;
/** DEF_PRIORITY (include/linux/mmzone.h): reclaim scans lru_size >> priority, 12 down to 0. */
export const DEF_PRIORITY = 12;
/**
 * MAX_RECLAIM_RETRIES (mm/internal.h, v6.1): should_reclaim_retry gives up after more than this
 * many no-progress rounds in a row; kswapd leaves a node after this many fruitless balance_pgdat.
 */
export const MAX_RECLAIM_RETRIES = 16;

/** kmalloc size classes of SLUB that fit an order-0 slab (kmalloc_index; 96 and 192 included). */
export const KMALLOC_SIZES: readonly number[] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096];
/** sizeof(struct sk_buff) rounded to its cache line multiple: kernel-facts.md §1.4 assumes 256 B. */
export const SKBUFF_HEAD_SIZE = 256;

/**
 * nopage_rs (mm/page_alloc.c, v3.2): DEFINE_RATELIMIT_STATE(nopage_rs, DEFAULT_RATELIMIT_INTERVAL,
 * DEFAULT_RATELIMIT_BURST), i.e. 5 * HZ and 10 (include/linux/ratelimit.h).
 */
export const NOPAGE_RS_INTERVAL_SECONDS = 5;
export const NOPAGE_RS_BURST = 10;

/**
 * Tracing: the zone's index as vmscan:mm_vmscan_wakeup_kswapd prints it. The model's one zone
 * behaves as ZONE_DMA32 (zone_idx 1 on x86_64 with ZONE_DMA), where the rx path's pages come from.
 */
const TRACE_ZID = 1;

/** Model: what the fast paths return when a __GFP_WAIT request must enter the slow path (not a pfn nor -1). */
const WOULD_SLEEP = -2;

/**
 * kmalloc's call_site by rx allocation site (mm-port.ts ALLOC_SITE_*): skb data areas come from
 * kmalloc_node_track_caller with the caller of __alloc_skb (__netdev_alloc_skb for the driver's
 * skbs, tcp_collapse's alloc_skb inline), the indirect table from vring_add_indirect.
 */
const KMALLOC_CALL_SITES: readonly string[] = [
  "__alloc_skb",
  "__netdev_alloc_skb",
  "get_a_page",
  "__netdev_alloc_skb",
  "vring_add_indirect",
  "tcp_collapse",
  // alloc_skb is inline, so kmalloc_node_track_caller records __alloc_skb's caller.
  "tcp_send_ack",
  "sk_stream_alloc_skb",
];

/**
 * A struct page's address for trace records' page=%p: x86_64's vmemmap base 0xffffea0000000000
 * (Documentation/x86/x86_64/mm.txt, v3.2) plus pfn × sizeof(struct page), 64 bytes.
 */
function pageAddr(pfn: number): string {
  return `ffffea${(pfn * 64).toString(16).padStart(10, "0")}`;
}

export interface MmOptions {
  /** Guest RAM as the zone's present pages, bytes (a multiple of 4096). */
  memBytes: number;
  /** vm.min_free_kbytes; default init_per_zone_wmark_min's int_sqrt(lowmem_kbytes * 16). */
  minFreeKbytes?: number;
  /**
   * Boot-time kernel memory (text and data, page tables, the big hash tables, per-cpu areas) that
   * is never freed, bytes. Default memBytes / 32 (32 MiB of a 1 GiB guest, about what a freshly
   * booted 3.2 guest shows as MemTotal - MemFree).
   */
  kernelReservedBytes?: number;
  dirtyRatio?: number;
  dirtyBackgroundRatio?: number;
  dirtyExpireCentisecs?: number;
  dirtyWritebackCentisecs?: number;
  disk?: Partial<DiskOptions>;
  costs?: Partial<MmCosts>;
  /** vm.percpu_pagelist_fraction: 0 (default) sizes the pcp lists by zone_batchsize (pcp.ts). */
  percpuPagelistFraction?: number;
  /** The kernel era's rules (kernel-era.ts); default 3.2. */
  era?: KernelEraParams;
  /** vm.watermark_scale_factor (6.1 era only; default 10). */
  watermarkScaleFactor?: number;
  /** vCPUs of kswapd0, the flusher and the disk interrupt (default 0). */
  kswapdCpu?: number;
  flusherCpu?: number;
  diskIrqCpu?: number;
  /** Whose oom_badness and select_bad_process choose OOM victims (oom.ts); default 3.2's. */
  oomRules?: OomRules;
  /** A swap device (swap.ts); absent: no swap, anonymous memory is not reclaimable. */
  swap?: SwapOptions;
}

/**
 * get_scan_count for one file list without swap: lru_size >> priority, or SWAP_CLUSTER_MAX when
 * that is 0 and `forceScan` (kswapd on an all_unreclaimable zone).
 */
function fileScan(lruSize: number, priority: number, forceScan: boolean): number {
  const nr = lruSize >>> priority;
  return nr === 0 && forceScan ? SWAP_CLUSTER_MAX : nr;
}

/** One OOM kill, for traces. */
export interface OomKill {
  time: Ns;
  task: string;
  pages: number;
}

export class Mm implements WritebackHost, SwapHost {
  readonly pt: PageTable;
  readonly nPages: number;
  readonly minFreeKbytes: number;
  readonly wmark: Readonly<Watermarks>;
  readonly costs: MmCosts;
  /** The inactive and active file LRU lists: head = most recent, reclaim takes from the tails. */
  readonly lru: FileLru;
  readonly wb: Writeback;
  readonly ev = new Float64Array(EV_COUNT);
  /** Allocation failures by gfp mask, in first-failure order. */
  readonly failuresByGfp = new Map<number, number>();
  readonly oomKills: OomKill[] = [];
  readonly tasks: MmTask[] = [];
  readonly kswapdThread: KThread;
  readonly skbuffHeadCache: KmemCache;
  readonly kmallocCaches: readonly KmemCache[];
  /** Every cache, skbuff_head_cache first. */
  readonly caches: readonly KmemCache[];
  /** register_shrinker's list, which reclaim's shrink_slab walks. */
  readonly shrinkers = new ShrinkerList();
  readonly oomRules: OomRules;
  /** The swap device and the anon LRU lists; both null without swap. */
  readonly swap: SwapDevice | null;
  readonly anonLru: AnonLru | null;
  /** Major faults: swap-ins (PGMAJFAULT). */
  pgmajfault = 0;
  /** Model: swap faults that found the page in the swap cache (minor faults, no read). */
  swapCacheHits = 0;
  /** Fault injectors (fail_page_alloc, failslab); null when none is configured. */
  faults: FaultInjection | null = null;
  /**
   * The rx allocation site of the next allocation (fault-inject.ts): set by the rx path before it
   * allocates, read only by the fault injectors, which stand it in for the kernel's stack trace.
   */
  allocSite = SITE_NONE;
  /** ___ratelimit state of nopage_rs: window start in jiffies (-1: not started), warnings printed. */
  private nopageRsBegin = -1;
  private nopageRsPrinted = 0;
  /** zone->all_unreclaimable, set by kswapd, cleared when pages are freed to the buddy lists. */
  allUnreclaimable = false;
  /** zone->pages_scanned since pages were last freed to the buddy lists. */
  pagesScanned = 0;
  /**
   * 6.1: pgdat->kswapd_failures, balance_pgdat runs in a row that reclaimed nothing; reset by any
   * reclaim pass that frees pages (shrink_node). At MAX_RECLAIM_RETRIES kswapd leaves the node alone.
   */
  kswapdFailures = 0;
  /** Model: times should_reclaim_retry sent the 6.1 slow path to the OOM path. */
  reclaimRetryGiveUps = 0;
  readonly era: KernelEraParams;
  private readonly balanceGap: number;
  /** The fast path's test free > fastLow, i.e. __zone_watermark_ok(WMARK_LOW) for order 0. */
  private readonly fastLow: number;
  /** allocPage's and kmemCacheAlloc's result when their fast path succeeded or failed without sleeping. */
  private readonly returned = new ReturnedCode<number>();
  /** The zone's per-cpu page lists (per_cpu_pageset), one set per vCPU. */
  readonly pcp: PerCpuPages;
  private readonly kswapdWait = new WaitQueue("kswapd_wait");
  /**
   * The task id + 1 of each anonymous page's owner (0: none), so that the zeroed array is the boot
   * state and needs no pass over every page; its anonVpage means something only while it is set.
   */
  private readonly anonTask: Int32Array;
  /** The accessed bit of each anonymous page's pte (one mapping per page). */
  private readonly pteYoung: Uint8Array;
  /** Each anonymous page's index in its task's anonPages (its virtual page), for unmapping. */
  private readonly anonVpage: Int32Array;
  private readonly scan: ScanCount = { inactiveAnon: 0, activeAnon: 0, inactiveFile: 0, activeFile: 0 };
  /** Per reclaim batch results (shrinkInactiveList). */
  private lastScanned = 0;
  private readonly pageoutBuf = new Int32Array(SWAP_CLUSTER_MAX);
  /** Swap cache pages on the anon lists (under writeback, or written and not yet freed). */
  private swapCacheOnLru = 0;
  /**
   * One shrink_node pass's sc->nr (6.1), over the anon lists only (page-cache pages keep 3.2's
   * handling): pages taken; pages under writeback met by kswapd with PG_reclaim on a PGDAT_WRITEBACK
   * node (immediate, case 1) or otherwise (writeback, case 2); dirty or under writeback (dirty); under
   * writeback with PG_reclaim (congested).
   */
  private readonly scNr = { taken: 0, writeback: 0, immediate: 0, dirty: 0, congested: 0 };
  /** 6.1: PGDAT_WRITEBACK and LRUVEC_CONGESTED, set by kswapd's shrink_node, cleared when it finds the node balanced. */
  pgdatWriteback = false;
  lruvecCongested = false;
  /** 6.1: pgdat->nr_writeback_throttled, NR_THROTTLED_WRITTEN and nr_reclaim_start (reclaim_throttle). */
  private nrWritebackThrottled = 0;
  private nrThrottledWritten = 0;
  private nrReclaimStart = 0;
  /** 6.1: pgdat->reclaim_wait[VMSCAN_THROTTLE_WRITEBACK]. */
  private readonly reclaimWaitWriteback = new WaitQueue("reclaim_wait_writeback");
  private pageoutCount = 0;
  /** page_count of counted pages' heads (allocPagesAtomic, allocPageCounted); 0 elsewhere. */
  private readonly pageRef: Int32Array;
  /**
   * compound_order of a counted page's head, and the links from each of its pages to the next (-1
   * at the last; set when the page is counted, so read only on counted pages and never initialised).
   */
  private readonly compoundOrder: Uint8Array;
  private readonly compoundNext: Int32Array;
  /** Pages of all counted pages with a reference (the invariant compares it with their owners). */
  countedPages = 0;
  /** The tracer's enable flags (sim.trace.on), read at every page: one typed-array load when off. */
  private readonly tpOn: Uint8Array;

  constructor(
    readonly k: Kernel,
    opts: MmOptions,
  ) {
    const bytes = opts.memBytes;
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % PAGE_SIZE !== 0) {
      throw new ModelError(`memBytes must be a positive multiple of ${PAGE_SIZE}, got ${bytes}`);
    }
    const n = bytes / PAGE_SIZE;
    this.nPages = n;
    this.tpOn = k.sim.trace.on;
    const reservedBytes = opts.kernelReservedBytes ?? Math.floor(bytes / 32 / PAGE_SIZE) * PAGE_SIZE;
    this.pt = new PageTable(n, Math.ceil(reservedBytes / PAGE_SIZE));
    const era = opts.era ?? ERA_3_2;
    this.era = era;
    this.minFreeKbytes =
      opts.minFreeKbytes ?? defaultMinFreeKbytes(n * (PAGE_SIZE >> 10), era.minFreeKbytesCeil);
    if (!Number.isInteger(this.minFreeKbytes) || this.minFreeKbytes < 0) {
      throw new ModelError(`minFreeKbytes must be a non-negative integer, got ${this.minFreeKbytes}`);
    }
    const factor = opts.watermarkScaleFactor ?? WATERMARK_SCALE_FACTOR_DEFAULT;
    if (!Number.isInteger(factor) || factor < 1) {
      throw new ModelError(`watermarkScaleFactor must be a positive integer, got ${factor}`);
    }
    this.wmark = zoneWatermarksFor(era, this.minFreeKbytes, n, factor);
    this.fastLow = this.wmark.low + era.wmarkUnusableFree;
    // balance_pgdat's balance_gap is 3.2's; 6.1's kswapd balances to the high watermark itself.
    this.balanceGap = era.kswapd61 ? 0 : kswapdBalanceGap(this.wmark, n);
    this.pcp = new PerCpuPages(
      this.pt,
      k.cpus.length,
      opts.percpuPagelistFraction,
      era.pcp61 ? { lowWmark: this.wmark.low } : null,
    );
    this.costs = { ...DEFAULT_MM_COSTS, ...opts.costs };
    this.lru = new FileLru(this.pt, n, this.ev);
    this.anonTask = new Int32Array(n);
    this.pageRef = new Int32Array(n);
    this.compoundOrder = new Uint8Array(n);
    this.compoundNext = new Int32Array(n);
    this.pteYoung = new Uint8Array(n);
    this.anonVpage = new Int32Array(n);
    this.skbuffHeadCache = new KmemCache("skbuff_head_cache", SKBUFF_HEAD_SIZE);
    this.kmallocCaches = KMALLOC_SIZES.map((s) => new KmemCache(`kmalloc-${s}`, s));
    this.caches = [this.skbuffHeadCache, ...this.kmallocCaches];
    this.wb = new Writeback(this, {
      dirtyRatio: opts.dirtyRatio ?? DEFAULT_WRITEBACK.dirtyRatio,
      dirtyBackgroundRatio: opts.dirtyBackgroundRatio ?? DEFAULT_WRITEBACK.dirtyBackgroundRatio,
      dirtyExpireCentisecs: opts.dirtyExpireCentisecs ?? DEFAULT_WRITEBACK.dirtyExpireCentisecs,
      dirtyWritebackCentisecs: opts.dirtyWritebackCentisecs ?? DEFAULT_WRITEBACK.dirtyWritebackCentisecs,
      disk: { ...DEFAULT_DISK, ...opts.disk },
      flusherCpu: opts.flusherCpu ?? DEFAULT_WRITEBACK.flusherCpu,
      diskIrqCpu: opts.diskIrqCpu ?? DEFAULT_WRITEBACK.diskIrqCpu,
    });
    this.oomRules = opts.oomRules ?? era.oomBadness;
    this.swap = opts.swap === undefined ? null : new SwapDevice(k, this, n, opts.swap, opts.diskIrqCpu ?? 0);
    this.anonLru = this.swap === null ? null : new AnonLru(n);
    this.kswapdThread = k.spawn("kswapd0", opts.kswapdCpu ?? 0, () => this.kswapd());
  }

  get nrFree(): number {
    return this.pt.counts[OWNER_FREE]!;
  }

  ownerOf(pfn: number): number {
    const o = this.pt.owner[pfn];
    if (o === undefined) throw new ModelError(`no page ${pfn} (zone has ${this.nPages})`);
    return o;
  }

  ownerCount(owner: number): number {
    return this.pt.counts[owner] ?? 0;
  }

  /**
   * CPU time for the executing context. Code that runs outside any simulated context (scenario
   * setup, plain events) is not on a vCPU and costs nothing.
   */
  charge(ns: Ns, cat: number): void {
    const k = this.k;
    if (k.current !== null || k.ctx !== CTX_PROCESS) k.charge(ns, cat);
  }

  // ---- page allocator ----------------------------------------------------------------------

  /**
   * alloc_page for callers that cannot sleep (softirq, spinlock held): the fast path against
   * WMARK_LOW, else wake kswapd and retry against WMARK_MIN with gfp_to_alloc_flags' allowances,
   * else fail (-1). A gfp with __GFP_WAIT is a model error here: use allocPage.
   */
  allocPageAtomic(gfp: number, owner: number): number {
    this.checkExternal(owner);
    if ((gfp & __GFP_WAIT) !== 0) {
      throw new ModelError(`allocPageAtomic(${gfpName(gfp)}): a sleeping gfp needs the allocPage generator`);
    }
    return this.allocNoWait(gfp, owner);
  }

  /**
   * alloc_page for process context: as allocPageAtomic, then with __GFP_WAIT direct reclaim,
   * retries and the OOM killer. Never yields without __GFP_WAIT. Sleeping from atomic context is a
   * model error (might_sleep_if in __alloc_pages_nodemask).
   */
  allocPage(gfp: number, owner: number): KernelCode<number> {
    this.checkExternal(owner);
    const pfn = this.allocFast(gfp, owner);
    return pfn !== WOULD_SLEEP ? this.returned.of(pfn) : this.allocSlowpath(gfp, owner);
  }

  /** __free_page of a page held outside mm. */
  freePage(pfn: number): void {
    const o = this.ownerOf(pfn);
    if (this.pageRef[pfn] !== 0) throw new ModelError(`freePage(${pfn}): a counted page is freed by putPage`);
    if (EXTERNAL_OWNER[o] !== 1) {
      throw new ModelError(`freePage(${pfn}): page is ${ownerName(o)}, not held outside mm`);
    }
    this.release(pfn, o);
  }

  /** Moves a page held outside mm to another outside owner, asserting where it was. */
  setOwner(pfn: number, from: number, to: number): void {
    if (EXTERNAL_OWNER[from] !== 1 || EXTERNAL_OWNER[to] !== 1) {
      throw new ModelError(
        `setOwner(${pfn}): ${ownerName(from)} → ${ownerName(to)} is not a move outside mm`,
      );
    }
    this.pt.move(pfn, from, to);
  }

  // ---- reference-counted and compound pages (page_frag's pages) ----------------------------------

  /**
   * alloc_pages(gfp, order) for callers that cannot sleep, returning the head pfn of a compound page
   * whose page_count is 1 (getPage / putPage move it; the last putPage frees it). Order 0 takes the
   * order-0 path. Order > 0 skips the per-cpu lists (buffered_rmqueue serves only order 0 from them,
   * v3.2) and passes __zone_watermark_ok with `free_pages -= (1 << order) + 1`; the per-order
   * free_area walk that follows is not modelled (no buddy fragmentation: a free block of the order
   * exists whenever enough pages are free; fail_page_alloc with min-order stands in for
   * fragmentation). Its pages need not be adjacent pfns. A high-order failure is not counted with
   * the allocation failures (nothing in /proc/vmstat counts it either): callers fall back.
   */
  allocPagesAtomic(gfp: number, order: number, owner: number): number {
    this.checkExternal(owner);
    if ((gfp & __GFP_WAIT) !== 0 || !Number.isInteger(order) || order < 0 || order > MAX_MODELLED_ORDER) {
      throw new ModelError(
        `allocPagesAtomic(${gfpName(gfp)}, order ${order}): only non-sleeping orders 0..${MAX_MODELLED_ORDER}`,
      );
    }
    if (order === 0) {
      const pfn = this.allocNoWait(gfp, owner);
      if (pfn >= 0) this.startRefcount(pfn, 0);
      return pfn;
    }
    const k = this.k;
    if (this.faults?.shouldFailAllocPage(gfp, order, this.allocSite, this.faultContext(), k.now) === true) {
      this.ev[EV_ALLOCFAIL_INJECTED]!++;
      return -1;
    }
    const need = (1 << order) - 1;
    // zoneWatermarkOk subtracts order 0's (1 << 0) + 1; the rest of (1 << order) + 1 here.
    if (!zoneWatermarkOk(this.pt.freeTop - need, this.wmark.low, 0)) {
      this.charge(this.costs.pageAllocSlow, CAT_MM);
      if ((gfp & __GFP_NO_KSWAPD) === 0) this.wakeupKswapd();
      if (!zoneWatermarkOk(this.pt.freeTop - need, this.wmark.min, gfpToAllocFlags(gfp))) {
        this.warnAllocFailed(gfp);
        return -1;
      }
    }
    const head = this.pt.take(owner);
    let tail = head;
    for (let i = 0; i < need; i++) {
      const p = this.pt.take(owner);
      this.compoundNext[tail] = p;
      tail = p;
    }
    this.compoundNext[tail] = -1;
    this.ev[EV_PGALLOC]! += need + 1;
    this.charge(this.costs.pageAllocFast, CAT_MM);
    this.startRefcount(head, order);
    return head;
  }

  /** alloc_page(gfp) with a page_count (see allocPagesAtomic), sleeping as allocPage does. */
  *allocPageCounted(gfp: number, owner: number): KernelCode<number> {
    const pfn = yield* this.allocPage(gfp, owner);
    if (pfn >= 0) this.startRefcount(pfn, 0);
    return pfn;
  }

  private startRefcount(head: number, order: number): void {
    this.pageRef[head] = 1;
    this.compoundOrder[head] = order;
    if (order === 0) this.compoundNext[head] = -1;
    this.countedPages += 1 << order;
  }

  /** page_count(page) of a counted page's head; 0 for any other page. */
  pageCount(head: number): number {
    return this.pageRef[head]!;
  }

  /** get_page. */
  getPage(head: number): void {
    if (this.pageRef[head]! <= 0) throw new ModelError(`get_page(${head}): not a counted page`);
    this.pageRef[head]!++;
  }

  /**
   * put_page: the last reference frees the whole compound page (__free_pages_ok straight to the
   * buddy lists for order > 0; an order-0 page through the per-cpu lists, as free_hot_cold_page).
   */
  putPage(head: number): void {
    const ref = this.pageRef[head]!;
    if (ref <= 0) throw new ModelError(`put_page(${head}): not a counted page`);
    this.pageRef[head] = ref - 1;
    if (ref > 1) return;
    const order = this.compoundOrder[head]!;
    this.countedPages -= 1 << order;
    const owner = this.ownerOf(head);
    if (order === 0) {
      this.release(head, owner);
      return;
    }
    this.charge(this.costs.pageFree, CAT_MM);
    for (let p = head; p >= 0; ) {
      const next = this.compoundNext[p]!;
      this.compoundNext[p] = -1;
      this.ev[EV_PGFREE]!++;
      this.pt.release(p, owner);
      p = next;
    }
    this.freedToBuddy();
  }

  private checkExternal(owner: number): void {
    if (EXTERNAL_OWNER[owner] !== 1)
      throw new ModelError(`cannot allocate a page for owner ${ownerName(owner)}`);
  }

  /**
   * __alloc_pages_nodemask up to the slow path: a pfn, -1, or WOULD_SLEEP when a __GFP_WAIT request
   * must enter __alloc_pages_slowpath (the caller continues with allocSlowpath).
   */
  private allocFast(gfp: number, owner: number): number {
    if ((gfp & __GFP_WAIT) === 0) return this.allocNoWait(gfp, owner);
    this.mightSleep(gfp);
    if (this.faults !== null && this.shouldFailAllocPage(gfp)) return this.allocInjectedFailure(gfp);
    if (this.pt.freeTop > this.fastLow) return this.take(gfp, owner);
    return WOULD_SLEEP;
  }

  /** might_sleep_if(gfp & __GFP_WAIT): sleeping needs a kernel thread outside atomic context. */
  private mightSleep(gfp: number): void {
    if (this.k.inAtomic()) throw new ModelError(`sleeping allocation (${gfpName(gfp)}) from atomic context`);
    if (this.k.current === null)
      throw new ModelError(`sleeping allocation (${gfpName(gfp)}) outside a kernel thread`);
  }

  /** __zone_watermark_ok on the current free count. */
  private watermarkOk(mark: number, allocFlags: number): boolean {
    return zoneWatermarkOk(this.pt.freeTop, mark, allocFlags, 0, this.era.wmarkUnusableFree);
  }

  private allocNoWait(gfp: number, owner: number): number {
    if (this.faults !== null && this.shouldFailAllocPage(gfp)) return this.allocInjectedFailure(gfp);
    // get_page_from_freelist(ALLOC_WMARK_LOW): order 0 succeeds while free - 2 > low (6.1: free > low).
    if (this.pt.freeTop > this.fastLow) return this.take(gfp, owner);
    this.charge(this.costs.pageAllocSlow, CAT_MM);
    if ((gfp & __GFP_NO_KSWAPD) === 0) this.wakeupKswapd();
    if (this.watermarkOk(this.wmark.min, gfpToAllocFlags(gfp))) return this.take(gfp, owner);
    return this.allocFailed(gfp);
  }

  /**
   * buffered_rmqueue on the executing CPU, after get_page_from_freelist's watermark check passed
   * on the buddy pages: from the pcp list of the gfp's migrate type, refilled from buddy when empty.
   */
  private take(gfp: number, owner: number): number {
    const pfn = this.pcp.rmqueue(this.k.cpuNow.index, gfp, owner);
    // The watermark check passed, so buddy held at least 3 pages (free - 2 > mark ≥ 0).
    if (pfn < 0) throw new ModelError(`buffered_rmqueue(${gfpName(gfp)}): no page after the watermark check`);
    this.ev[EV_PGALLOC]!++;
    this.charge(this.costs.pageAllocFast, CAT_MM);
    if (this.tpOn[TP_MM_PAGE_ALLOC] !== 0) this.tracePageAlloc(pfn, gfp);
    return pfn;
  }

  /**
   * kmem:mm_page_alloc at the end of __alloc_pages_nodemask (mm/page_alloc.c, v3.2), which traces
   * failures too (page NULL). include/trace/events/kmem.h: "page=%p pfn=%lu order=%d
   * migratetype=%d gfp_flags=%s", pfn 0 for a NULL page.
   */
  private tracePageAlloc(pfn: number, gfp: number): void {
    this.k.sim.trace.emit(
      TP_MM_PAGE_ALLOC,
      `page=${pfn < 0 ? "(null)" : pageAddr(pfn)} pfn=${pfn < 0 ? 0 : pfn} order=0 ` +
        `migratetype=${allocflagsToMigratetype(gfp)} gfp_flags=${gfpName(gfp)}`,
    );
  }

  /**
   * free_hot_cold_page on the executing CPU: onto its pcp list (cold: reclaim's free_page_list),
   * invisible to the watermark checks until a free_pcppages_bulk returns a batch to buddy.
   */
  private release(pfn: number, owner: number, cold = false): void {
    this.ev[EV_PGFREE]!++;
    // kmem:mm_page_free (v3.3+; 3.2's mm_page_free_direct): "page=%p pfn=%lu order=%d".
    if (this.tpOn[TP_MM_PAGE_FREE] !== 0)
      this.k.sim.trace.emit(TP_MM_PAGE_FREE, `page=${pageAddr(pfn)} pfn=${pfn} order=0`);
    this.charge(this.costs.pageFree, CAT_MM);
    if (this.pcp.free(this.k.cpuNow.index, pfn, owner, cold)) this.freedToBuddy();
  }

  /**
   * drain_all_pages, called only by direct reclaim (__alloc_pages_direct_reclaim): every CPU's
   * pcp lists back to buddy. Its IPIs are charged to the caller; the remote CPUs' handlers are not.
   */
  drainAllPages(): void {
    this.charge(this.costs.drainAllPages, CAT_MM);
    if (this.pcp.drainAll() > 0) this.freedToBuddy();
  }

  /**
   * After free_pcppages_bulk: the zone's free count moved, so all_unreclaimable and pages_scanned
   * are reset, as free_pcppages_bulk does.
   */
  private freedToBuddy(): void {
    this.allUnreclaimable = false;
    this.pagesScanned = 0;
  }

  /** The slow path's `nopage:` exit: count the failure, then warn_alloc_failed. */
  private allocFailed(gfp: number): number {
    if (this.tpOn[TP_MM_PAGE_ALLOC] !== 0) this.tracePageAlloc(-1, gfp);
    this.countAllocFailure(gfp);
    this.warnAllocFailed(gfp);
    return -1;
  }

  private countAllocFailure(gfp: number): void {
    this.ev[this.k.inAtomic() ? EV_ALLOCFAIL_ATOMIC : EV_ALLOCFAIL_PROCESS]!++;
    this.failuresByGfp.set(gfp, (this.failuresByGfp.get(gfp) ?? 0) + 1);
  }

  /** The calling context as fault injectors filter it: softirq (or hardirq) or process. */
  private faultContext(): number {
    return this.k.ctx === CTX_PROCESS ? FAULT_CTX_PROCESS : FAULT_CTX_SOFTIRQ;
  }

  /** should_fail_alloc_page for an order-0 page, at the top of __alloc_pages_nodemask. */
  private shouldFailAllocPage(gfp: number): boolean {
    return this.faults!.shouldFailAllocPage(gfp, 0, this.allocSite, this.faultContext(), this.k.now);
  }

  /**
   * An injected page allocation failure: __alloc_pages_nodemask returns NULL right after
   * should_fail_alloc_page, before any watermark check, kswapd wake-up or slow path, so the
   * caller sees the same NULL as from a real failure but warn_alloc_failed (in the slow path's
   * `nopage:`) is never reached. Counted with the real failures, and apart.
   */
  private allocInjectedFailure(gfp: number): number {
    if (this.tpOn[TP_MM_PAGE_ALLOC] !== 0) this.tracePageAlloc(-1, gfp);
    this.countAllocFailure(gfp);
    this.ev[EV_ALLOCFAIL_INJECTED]!++;
    return -1;
  }

  /**
   * warn_alloc_failed (mm/page_alloc.c, v3.2): nothing with __GFP_NOWARN or when nopage_rs
   * (___ratelimit, lib/ratelimit.c) says no; else pr_warn "page allocation failure", dump_stack
   * and show_mem, all written to the console by the failing context (printk → console_unlock in
   * the caller). show_mem walks every page frame only for callers that may sleep: atomic ones get
   * SHOW_MEM_FILTER_PAGE_COUNT. The "callbacks suppressed" line at a window's end is not charged.
   */
  private warnAllocFailed(gfp: number): void {
    if ((gfp & __GFP_NOWARN) !== 0) return;
    if (!this.nopageRatelimit()) {
      this.ev[EV_ALLOCFAIL_WARN_SUPPRESSED]!++;
      return;
    }
    this.ev[EV_ALLOCFAIL_WARNED]!++;
    let ns = this.costs.allocFailWarning;
    if ((gfp & __GFP_WAIT) !== 0) ns += this.nPages * this.costs.showMemPerPage;
    this.charge(ns, CAT_MM);
  }

  /** ___ratelimit(&nopage_rs) (lib/ratelimit.c, v3.2). */
  private nopageRatelimit(): boolean {
    const jiffies = this.k.jiffies.at(this.k.now);
    if (this.nopageRsBegin < 0) this.nopageRsBegin = jiffies;
    // time_is_before_jiffies(rs->begin + rs->interval): the window is over; the next call starts one.
    if (jiffies > this.nopageRsBegin + NOPAGE_RS_INTERVAL_SECONDS * this.k.jiffies.hz) {
      this.nopageRsBegin = -1;
      this.nopageRsPrinted = 0;
    }
    if (NOPAGE_RS_BURST > this.nopageRsPrinted) {
      this.nopageRsPrinted++;
      return true;
    }
    return false;
  }

  /**
   * __alloc_pages_slowpath for a __GFP_WAIT order-0 request (v3.2):
   * restart: wake kswapd; rebalance: try WMARK_MIN with the gfp's flags; direct reclaim and try
   * again; no progress with __GFP_FS (and not __GFP_NORETRY) → OOM path, then restart; otherwise
   * should_alloc_retry (always for order 0 unless __GFP_NORETRY) → wait_iff_congested(HZ/50) and
   * rebalance.
   *
   * wait_iff_congested sleeps only when a bdi is congested and the zone is ZONE_CONGESTED. 3.2
   * sets ZONE_CONGESTED in shrink_page_list when every dirty page met was refused by pageout()
   * for congestion; direct reclaim never calls pageout() on file pages, kswapd has PF_SWAPWRITE
   * (may_write_to_queue always true) and swap_backing_dev_info is never congested (swap.ts), so
   * the flag is never set and every wait_iff_congested in this model is a cond_resched(): the retry
   * loop spins, rescanning.
   */
  private *allocSlowpath(gfp: number, owner: number): KernelCode<number> {
    const k = this.k;
    const retryRule = this.era.oomRule === OOM_SHOULD_RECLAIM_RETRY;
    // 6.1's no_progress_loops, local to one __alloc_pages_slowpath call.
    let noProgressLoops = 0;
    for (;;) {
      if ((gfp & __GFP_NO_KSWAPD) === 0) this.wakeupKswapd();
      const allocFlags = gfpToAllocFlags(gfp);
      for (;;) {
        this.charge(this.costs.pageAllocSlow, CAT_MM);
        if (this.watermarkOk(this.wmark.min, allocFlags)) return this.take(gfp, owner);
        const progress = yield* this.tryToFreePages(gfp);
        if (progress > 0) {
          // __alloc_pages_direct_reclaim: a failed get_page_from_freelist after reclaim "could be
          // because pages are pinned on the per-cpu lists": drain_all_pages() and retry once.
          if (this.watermarkOk(this.wmark.min, allocFlags)) return this.take(gfp, owner);
          this.drainAllPages();
          if (this.watermarkOk(this.wmark.min, allocFlags)) return this.take(gfp, owner);
        }
        if (retryRule) {
          // __alloc_pages_slowpath (v6.1): "Do not loop if specifically requested", then
          // should_reclaim_retry decides between `goto retry` (which wakes kswapd again) and OOM.
          if ((gfp & __GFP_NORETRY) !== 0) return this.allocFailed(gfp);
          noProgressLoops = progress > 0 ? 0 : noProgressLoops + 1;
          if (!(yield* this.shouldReclaimRetry(noProgressLoops, allocFlags))) break;
          if ((gfp & __GFP_NO_KSWAPD) === 0) this.wakeupKswapd();
          continue;
        }
        if (progress === 0 && (gfp & __GFP_FS) !== 0 && (gfp & __GFP_NORETRY) === 0) break;
        if ((gfp & __GFP_NORETRY) !== 0) return this.allocFailed(gfp);
        // wait_iff_congested(HZ/50): a cond_resched (see above).
        yield k.cpu();
      }
      // __alloc_pages_may_oom: a last try at WMARK_HIGH catches a parallel kill, then kill.
      if (this.watermarkOk(this.wmark.high, ALLOC_WMARK_HIGH | ALLOC_CPUSET)) return this.take(gfp, owner);
      if (retryRule) {
        // out_of_memory (mm/oom_kill.c, v6.1) returns true without killing for !__GFP_FS ("the OOM
        // killer cannot be invoked safely"); either way did_some_progress = 1, so "Retry as long as
        // the OOM killer is making progress" with no_progress_loops = 0. The victim's memory is
        // reaped asynchronously (oom_reaper), here at once; 6.1 does not sleep after the kill.
        if ((gfp & __GFP_FS) !== 0) this.outOfMemory(gfp);
        noProgressLoops = 0;
        continue;
      }
      this.outOfMemory(gfp);
      // out_of_memory: schedule_timeout_uninterruptible(1) gives the victim a chance to exit.
      yield k.sleepJiffies(1);
    }
  }

  /**
   * should_reclaim_retry (mm/page_alloc.c, v6.1) for order 0, given no_progress_loops already
   * updated (reset by progress, else incremented): give up past MAX_RECLAIM_RETRIES; else retry
   * only if the zone would pass its min watermark with every reclaimable page reclaimed
   * (__zone_watermark_ok on available = zone_reclaimable_pages + NR_FREE_PAGES). Before retrying, a kworker (PF_WQ_WORKER) sleeps one
   * jiffy, anything else does cond_resched. Counts the give-ups in reclaimRetryGiveUps.
   */
  private *shouldReclaimRetry(noProgressLoops: number, allocFlags: number): KernelCode<boolean> {
    let ret = false;
    if (noProgressLoops <= MAX_RECLAIM_RETRIES) {
      const available = this.zoneReclaimablePages() + this.pt.freeTop;
      ret = zoneWatermarkOk(available, this.wmark.min, allocFlags, 0, this.era.wmarkUnusableFree);
      if (this.k.current?.pfWqWorker) yield this.k.sleepJiffies(1);
      else yield this.k.cpu();
    }
    if (!ret) this.reclaimRetryGiveUps++;
    return ret;
  }

  /** wakeup_kswapd: only when kswapd sleeps on kswapd_wait and the zone needs it. */
  private wakeupKswapd(): void {
    if (this.kswapdWait.waiters.length === 0) return;
    // 3.2 wakes kswapd below the low watermark; 6.1 while the node is not pgdat_balanced (below
    // high) and not hopeless.
    if (this.era.kswapd61) {
      if (this.kswapdHopeless() || this.watermarkOk(this.wmark.high, 0)) return;
    } else if (this.watermarkOk(this.wmark.low, 0)) return;
    // include/trace/events/vmscan.h (v3.2): "nid=%d zid=%d order=%d".
    if (this.tpOn[TP_MM_VMSCAN_WAKEUP_KSWAPD] !== 0)
      this.k.sim.trace.emit(TP_MM_VMSCAN_WAKEUP_KSWAPD, `nid=0 zid=${TRACE_ZID} order=0`);
    this.ev[EV_KSWAPD_WAKEUPS]!++;
    this.k.wakeAll(this.kswapdWait);
  }

  // ---- reclaim -------------------------------------------------------------------------------

  /**
   * shrink_inactive_list + shrink_page_list on up to nrToScan pages from the inactive tail (one
   * SWAP_CLUSTER_MAX batch). Pages under writeback are put back before page_check_references looks
   * at them; the others lose PG_referenced (TestClearPageReferenced). Clean pages are freed,
   * referenced or not (PAGEREF_RECLAIM_CLEAN: use-once page cache); dirty pages get PG_reclaim
   * and are put back (3.2: "Only kswapd can writeback filesystem pages ... but do not writeback
   * unless under significant pressure"), except that kswapd below DEF_PRIORITY - 2 collects them
   * for pageout() unless they were referenced ("if (references == PAGEREF_RECLAIM_CLEAN) goto
   * keep_locked": one more trip). Kept pages return to the inactive head (putback_lru_pages).
   * Returns pages reclaimed; lastScanned holds pages scanned.
   */
  private shrinkInactiveList(nrToScan: number, priority: number, kswapd: boolean): number {
    const pt = this.pt;
    const lru = this.lru;
    const inactive = lru.inactive;
    const owner = pt.owner;
    const n = Math.min(nrToScan, inactive.size);
    let reclaimed = 0;
    for (let i = 0; i < n; i++) {
      const p = inactive.tail;
      const o = owner[p]!;
      if (o === OWNER_PAGECACHE_CLEAN) {
        lru.remove(p);
        this.release(p, OWNER_PAGECACHE_CLEAN, true);
        reclaimed++;
        continue;
      }
      if (o === OWNER_PAGECACHE_DIRTY) {
        const referenced = lru.testClearReferenced(p);
        if (!kswapd || priority >= DEF_PRIORITY - 2) {
          pt.flags[p]! |= PG_RECLAIM;
          this.ev[EV_NR_VMSCAN_IMMEDIATE]!++;
        } else if (!referenced) {
          pt.flags[p]! |= PG_RECLAIM;
          this.pageoutBuf[this.pageoutCount++] = p;
        }
      } else if (o !== OWNER_PAGECACHE_WRITEBACK) {
        throw new ModelError(`pfn ${p} on the LRU is owned by ${ownerName(o)}`);
      }
      inactive.moveToHead(p);
    }
    this.pagesScanned += n;
    this.lastScanned = n;
    if (this.anonLru !== null) this.anonLru.recentScanned[1]! += n;
    this.ev[kswapd ? EV_PGSCAN_KSWAPD : EV_PGSCAN_DIRECT]! += n;
    this.ev[kswapd ? EV_PGSTEAL_KSWAPD : EV_PGSTEAL_DIRECT]! += reclaimed;
    this.charge(n * this.costs.reclaimScanPage + reclaimed * this.costs.reclaimFreePage, CAT_RECLAIM);
    // The throttle at the end of shrink_inactive_list is a wait_iff_congested(HZ/10): a
    // cond_resched here (see allocSlowpath), i.e. the yield after each batch.
    return reclaimed;
  }

  /**
  /**
   * One shrink_zone round of shrink_list(LRU_ACTIVE_FILE) with up to SWAP_CLUSTER_MAX of the `nr`
   * pages left to scan: shrink_active_list only while inactive_file_is_low. Returns `nr` left.
   */
  private shrinkActiveFile(nr: number): number {
    if (nr === 0) return 0;
    const batch = Math.min(nr, SWAP_CLUSTER_MAX);
    if (this.lru.inactiveIsLow()) {
      const scanned = this.lru.shrinkActiveList(batch);
      this.pagesScanned += scanned;
      this.charge(scanned * this.costs.reclaimScanPage, CAT_RECLAIM);
    }
    return nr - batch;
  }

  /**
   * zone_reclaimable_pages (mm/vmscan.c, 3.2 and 6.1): the file LRU, and the anon lists while swap
   * has free slots (6.1's can_reclaim_anon_pages, 3.2's nr_swap_pages > 0).
   */
  private zoneReclaimablePages(): number {
    const anon = this.swap !== null && this.swap.freePages > 0 ? this.anonLru!.size : 0;
    return this.lru.size + anon;
  }

  /** zone_reclaimable: fewer pages scanned since the last free than six times zone_reclaimable_pages. */
  private zoneReclaimable(): boolean {
    return this.pagesScanned < this.zoneReclaimablePages() * 6;
  }

  /**
   * get_scan_count: without swap space (none configured, or full) only the two file lists, each
   * lru_size >> priority (fileScan); with it, swap.ts's anon/file balance.
   */
  private scanCount(priority: number, kswapd: boolean): ScanCount {
    const out = this.scan;
    const forceScan = kswapd && this.allUnreclaimable;
    if (this.swap === null || this.swap.freePages <= 0) {
      out.inactiveAnon = 0;
      out.activeAnon = 0;
      out.inactiveFile = fileScan(this.lru.inactive.size, priority, forceScan);
      out.activeFile = fileScan(this.lru.active.size, priority, forceScan);
    } else {
      const { pt, wmark } = this;
      getScanCount(
        this.anonLru!,
        this.lru.inactive.size,
        this.lru.active.size,
        pt.freeTop,
        wmark.high,
        priority,
        forceScan,
        SWAP_CLUSTER_MAX,
        out,
      );
    }
    return out;
  }

  /**
   * One round of shrink_zone's loop over the anon lists: a batch of the inactive list
   * (shrink_inactive_list), then of the active list, deactivated only while inactive_anon_is_low
   * (shrink_list). Returns pages reclaimed; lastScanned holds pages scanned on the inactive list.
   */
  private shrinkAnonBatch(nr: ScanCount, kswapd: boolean): number {
    let reclaimed = 0;
    this.lastScanned = 0;
    if (nr.inactiveAnon > 0) {
      const batch = Math.min(nr.inactiveAnon, SWAP_CLUSTER_MAX);
      nr.inactiveAnon -= batch;
      reclaimed = this.shrinkInactiveAnon(batch, kswapd);
    }
    if (nr.activeAnon > 0) {
      const batch = Math.min(nr.activeAnon, SWAP_CLUSTER_MAX);
      nr.activeAnon -= batch;
      if (this.anonLru!.inactiveIsLow()) this.shrinkActiveAnon(batch);
    }
    return reclaimed;
  }

  /** shrink_zone's (and balance_pgdat's) closing `if (inactive_anon_is_low) shrink_active_list(SWAP_CLUSTER_MAX)`. */
  private rebalanceAnon(): void {
    if (this.anonLru?.inactiveIsLow()) this.shrinkActiveAnon(SWAP_CLUSTER_MAX);
  }

  /**
   * shrink_active_list for anon (v3.2): up to n pages from the active tail to the inactive head,
   * referenced or not (only executable file pages stay active); page_referenced clears their young
   * ptes and counts them as rotated.
   */
  private shrinkActiveAnon(n: number): void {
    const lru = this.anonLru!;
    const count = Math.min(n, lru.active.size);
    let rotated = 0;
    for (let i = 0; i < count; i++) {
      const p = lru.active.tail;
      if (this.pteYoung[p] === 1) {
        this.pteYoung[p] = 0;
        rotated++;
      }
      lru.active.remove(p);
      lru.inactive.addHead(p);
    }
    lru.recentScanned[0]! += count;
    lru.recentRotated[0]! += rotated;
    this.pagesScanned += count;
    this.charge(count * this.costs.reclaimScanPage, CAT_RECLAIM);
  }

  /**
   * shrink_inactive_list + shrink_page_list for anon, up to nrToScan pages from the inactive tail:
   * - A swap cache page under writeback is not reclaimed. 3.2 counts it in nr_writeback and puts
   *   it back on the inactive list (keep_lumpy); its throttle, `nr_writeback >= nr_taken >>
   *   (DEF_PRIORITY - priority)` → wait_iff_congested(HZ/10), is a cond_resched for swap (see
   *   allocSlowpath), i.e. the yield after the batch. 6.1 counts it dirty, congested when it has
   *   PG_reclaim, and activates it: as nr_immediate when kswapd finds the node PGDAT_WRITEBACK
   *   (case 1), else with PG_reclaim set as nr_writeback (case 2).
   * - A swap cache page whose write is done (end_page_writeback rotated it to the tail) is freed
   *   (__remove_mapping) and counts as reclaimed.
   * - An anon page with a young pte is activated (page_check_references → PAGEREF_ACTIVATE), as is
   *   one that gets no swap slot (add_to_swap failed). The others are unmapped (try_to_unmap: the
   *   pte becomes a swap entry) and written (pageout: SetPageReclaim, swap_writepage:
   *   set_page_writeback), one request per batch. The scan stops while the swap queue has no free
   *   request: the caller sleeps in get_request_wait (waitSwapRequest) and scans on.
   * Returns pages reclaimed; lastScanned holds pages scanned.
   */
  private shrinkInactiveAnon(nrToScan: number, kswapd: boolean): number {
    const lru = this.anonLru!;
    const swap = this.swap!;
    const flags = this.pt.flags;
    const owner = this.pt.owner;
    const sc = this.scNr;
    const era61 = this.era.reclaimThrottle61;
    const n = Math.min(nrToScan, lru.inactive.size);
    let rotated = 0;
    let reclaimed = 0;
    let written = 0;
    let scanned = 0;
    for (; scanned < n; scanned++) {
      const p = lru.inactive.tail;
      if (owner[p] === OWNER_SWAPCACHE) {
        const f = flags[p]!;
        if ((f & PG_WRITEBACK) === 0) {
          lru.inactive.remove(p);
          this.dropSwapCache(p);
          reclaimed++;
          continue;
        }
        if (!era61) {
          lru.inactive.moveToHead(p);
          continue;
        }
        sc.dirty++;
        if ((f & PG_RECLAIM) !== 0) sc.congested++;
        if (kswapd && (f & PG_RECLAIM) !== 0 && this.pgdatWriteback) sc.immediate++;
        else {
          flags[p] = f | PG_RECLAIM;
          sc.writeback++;
        }
        lru.inactive.remove(p);
        lru.active.addHead(p);
        continue;
      }
      // pageout would sleep in get_request_wait: leave the page for after the caller's wait.
      if (this.pteYoung[p] === 0 && swap.queueFull) break;
      if (this.pteYoung[p] === 1 || !swap.allocSlot()) {
        this.pteYoung[p] = 0;
        lru.inactive.remove(p);
        lru.active.addHead(p);
        rotated++;
        continue;
      }
      const task = this.tasks[this.anonTask[p]! - 1]!;
      const v = this.anonVpage[p]!;
      task.anonPages[v] = swapCached(p);
      task.swapents++;
      this.unmapAnon(task, p);
      // The swap cache page keeps its way back to the task's entry (the swap entry's offset).
      this.anonTask[p] = task.id + 1;
      this.anonVpage[p] = v;
      this.pt.move(p, OWNER_ANON, OWNER_SWAPCACHE);
      flags[p] = PG_RECLAIM | PG_WRITEBACK;
      this.swapCacheOnLru++;
      lru.inactive.addHead(p);
      swap.queueWrite(p);
      written++;
    }
    swap.submitWrites();
    sc.taken += scanned;
    lru.recentScanned[0]! += scanned;
    lru.recentRotated[0]! += rotated;
    this.pagesScanned += scanned;
    this.lastScanned = scanned;
    this.ev[EV_NR_VMSCAN_WRITE]! += written;
    this.ev[kswapd ? EV_PGSCAN_KSWAPD : EV_PGSCAN_DIRECT]! += scanned;
    this.ev[kswapd ? EV_PGSTEAL_KSWAPD : EV_PGSTEAL_DIRECT]! += reclaimed;
    this.charge(scanned * this.costs.reclaimScanPage + reclaimed * this.costs.reclaimFreePage, CAT_RECLAIM);
    return reclaimed;
  }

  /** get_request_wait (block/blk-core.c, v3.2): sleep until the swap queue has a free request. */
  private *waitSwapRequest(): KernelCode {
    const swap = this.swap!;
    while (swap.queueFull) {
      swap.requestWaits++;
      yield this.k.waitOn(swap.requestWait);
    }
  }

  /** shrink_node's start (v6.1): `memset(&sc->nr, 0, sizeof(sc->nr))`. */
  private resetScNr(): void {
    const sc = this.scNr;
    sc.taken = sc.writeback = sc.immediate = sc.dirty = sc.congested = 0;
  }

  /**
   * reclaim_throttle (mm/vmscan.c, v6.1). A kthread other than kswapd (the model's one that
   * reclaims is the workqueue worker) only cond_rescheds. WRITEBACK sleeps up to HZ/10 on
   * reclaim_wait, woken once more than SWAP_CLUSTER_MAX pages per throttled task have finished
   * writeback since the first of them slept (__acct_reclaim_writeback, swapWriteDone). CONGESTED and
   * NOPROGRESS sleep one jiffy unless skip_throttle_noprogress (the model does not wake NOPROGRESS
   * sleepers early: consider_reclaim_throttle's wake-up needs another reclaimer's progress).
   */
  private *reclaimThrottle(reason: number): KernelCode {
    const k = this.k;
    if (k.current !== this.kswapdThread && k.current?.pfWqWorker) {
      yield k.cpu();
      return;
    }
    if (reason === EV_VMSCAN_THROTTLED_WRITEBACK) {
      if (++this.nrWritebackThrottled === 1) this.nrReclaimStart = this.nrThrottledWritten;
      this.ev[reason]!++;
      yield k.waitOn(this.reclaimWaitWriteback, Math.floor(k.jiffies.hz / 10));
      this.nrWritebackThrottled--;
      return;
    }
    if (this.skipThrottleNoprogress()) {
      yield k.cpu();
      return;
    }
    this.ev[reason]!++;
    yield k.sleepJiffies(1);
  }

  /**
   * skip_throttle_noprogress (v6.1): kswapd has given the node up, or write-pending pages (dirty
   * and under writeback, NR_ZONE_WRITE_PENDING) are at most half the reclaimable ones.
   */
  private skipThrottleNoprogress(): boolean {
    if (this.kswapdFailures >= MAX_RECLAIM_RETRIES) return true;
    const c = this.pt.counts;
    const writePending =
      c[OWNER_PAGECACHE_DIRTY]! + c[OWNER_PAGECACHE_WRITEBACK]! + (this.swap?.writesInFlight ?? 0);
    return 2 * writePending <= this.zoneReclaimablePages();
  }

  /**
   * The end of shrink_node for direct reclaim (v6.1): reclaim_throttle(CONGESTED) while kswapd has
   * flagged the lruvec congested (current_may_throttle holds: no task here writes to a bdi).
   */
  private *directReclaimThrottle(): KernelCode {
    if (this.lruvecCongested) yield* this.reclaimThrottle(EV_VMSCAN_THROTTLED_CONGESTED);
  }

  /**
   * The end of shrink_node for kswapd (v6.1): PGDAT_WRITEBACK when every page taken was under
   * writeback (case 2), LRUVEC_CONGESTED when every dirty page was under writeback with PG_reclaim,
   * and reclaim_throttle(WRITEBACK) when pages marked for immediate reclaim came round again.
   */
  private *kswapdReclaimThrottle(): KernelCode {
    const sc = this.scNr;
    if (sc.writeback > 0 && sc.writeback === sc.taken) this.pgdatWriteback = true;
    if (sc.dirty > 0 && sc.dirty === sc.congested) this.lruvecCongested = true;
    if (sc.immediate > 0) yield* this.reclaimThrottle(EV_VMSCAN_THROTTLED_WRITEBACK);
  }

  /**
   * try_to_free_pages → do_try_to_free_pages with nr_to_reclaim = SWAP_CLUSTER_MAX: priorities 12
   * down to 0, scanning lru_size >> priority pages per pass (get_scan_count without swap) in
   * SWAP_CLUSTER_MAX batches, stopping once 32 pages are reclaimed; past 1.5 × nr_to_reclaim
   * scanned it wakes the flusher for the pages scanned. Returns pages reclaimed, else 1 while the
   * zone is not all_unreclaimable ("progress"), else 0.
   */
  private *tryToFreePages(gfp: number): KernelCode<number> {
    const k = this.k;
    const tr = k.sim.trace;
    // include/trace/events/vmscan.h (v3.2): "order=%d may_writepage=%d gfp_flags=%s"; may_writepage
    // is !laptop_mode, 1.
    if (tr.on[TP_MM_VMSCAN_DIRECT_RECLAIM_BEGIN] !== 0)
      tr.emit(TP_MM_VMSCAN_DIRECT_RECLAIM_BEGIN, `order=0 may_writepage=1 gfp_flags=${gfpName(gfp)}`);
    this.ev[EV_ALLOCSTALL]!++;
    this.charge(this.costs.directReclaimEntry, CAT_RECLAIM);
    let reclaimed = 0;
    let totalScanned = 0;
    const throttle61 = this.era.reclaimThrottle61;
    for (let priority = DEF_PRIORITY; priority >= 0; priority--) {
      // shrink_zones skips an all_unreclaimable zone below DEF_PRIORITY.
      if (!this.allUnreclaimable || priority === DEF_PRIORITY) {
        // shrink_zone: the lists in for_each_evictable_lru order, a SWAP_CLUSTER_MAX batch each, while
        // inactive anon, active file or inactive file has some left.
        const nr = this.scanCount(priority, false);
        let zoneReclaimed = 0;
        this.resetScNr();
        while (nr.inactiveAnon > 0 || nr.inactiveFile > 0 || nr.activeFile > 0) {
          if (this.anonLru !== null) {
            zoneReclaimed += this.shrinkAnonBatch(nr, false);
            totalScanned += this.lastScanned;
            yield* this.waitSwapRequest();
          }
          const batch = Math.min(nr.inactiveFile, SWAP_CLUSTER_MAX);
          nr.inactiveFile -= batch;
          if (batch > 0) {
            zoneReclaimed += this.shrinkInactiveList(batch, priority, false);
            totalScanned += this.lastScanned;
          }
          nr.activeFile = this.shrinkActiveFile(nr.activeFile);
          yield k.cpu();
          if (zoneReclaimed >= SWAP_CLUSTER_MAX && priority < DEF_PRIORITY) break;
        }
        this.rebalanceAnon();
        reclaimed += zoneReclaimed;
        if (throttle61) yield* this.directReclaimThrottle();
      }
      // consider_reclaim_throttle (v6.1): no page reclaimed by priority 1.
      if (throttle61 && priority === 1 && reclaimed === 0)
        yield* this.reclaimThrottle(EV_VMSCAN_THROTTLED_NOPROGRESS);
      // shrink_slab after the pass; what shrinkers free is not slab pages (reclaimed_slab), so it
      // counts only through the free pages the allocator then finds.
      if (this.shrinkers.size > 0) this.shrinkers.shrink(priority);
      if (reclaimed >= SWAP_CLUSTER_MAX) break;
      if (totalScanned > SWAP_CLUSTER_MAX + SWAP_CLUSTER_MAX / 2) this.wb.wakeupFlusher(totalScanned);
      // priority < DEF_PRIORITY - 2: wait_iff_congested(HZ/10), a cond_resched here.
    }
    // "nr_reclaimed=%lu", before the final cond_resched so the slice ends with the scanning.
    if (tr.on[TP_MM_VMSCAN_DIRECT_RECLAIM_END] !== 0)
      tr.emit(TP_MM_VMSCAN_DIRECT_RECLAIM_END, `nr_reclaimed=${reclaimed}`);
    // shrink_node (v6.1): reclaim that freed pages makes the node worth kswapd's effort again.
    if (reclaimed > 0) this.kswapdFailures = 0;
    // 3.2's do_try_to_free_pages reports progress (1) while the zone is not all_unreclaimable;
    // 6.1's returns sc->nr_reclaimed (its compaction_ready case does not arise for order 0). Both
    // decide before __alloc_pages_direct_reclaim's cond_resched, in which a woken kswapd may run
    // and mark the zone.
    const progress =
      reclaimed > 0
        ? reclaimed
        : this.allUnreclaimable || this.era.oomRule === OOM_SHOULD_RECLAIM_RETRY
          ? 0
          : 1;
    yield k.cpu();
    return progress;
  }

  /**
   * kswapd's view of the zone (sleeping_prematurely for order 0; 6.1's prepare_kswapd_sleep): at
   * WMARK_HIGH or given up (all_unreclaimable; 6.1: kswapd_failures ≥ MAX_RECLAIM_RETRIES).
   */
  private kswapdBalanced(): boolean {
    return this.allUnreclaimable || this.kswapdHopeless() || this.watermarkOk(this.wmark.high, 0);
  }

  /** 6.1's "Hopeless node, leave it to direct reclaim if possible" (wakeup_kswapd). */
  private kswapdHopeless(): boolean {
    return this.era.kswapd61 && this.kswapdFailures >= MAX_RECLAIM_RETRIES;
  }

  /**
   * kswapd: kswapd_try_to_sleep (a HZ/10 nap when balanced, then a full sleep if still balanced
   * and not woken meanwhile, counting kswapd_{low,high}_wmark_hit_quickly otherwise), then
   * balance_pgdat.
   */
  private *kswapd(): KernelCode {
    const k = this.k;
    const nap = Math.floor(k.jiffies.hz / 10);
    for (;;) {
      let remaining = false;
      if (this.kswapdBalanced()) {
        yield k.waitOn(this.kswapdWait, nap);
        remaining = this.kswapdThread.wokenByEvent;
      }
      const tr = k.sim.trace;
      if (this.kswapdBalanced()) {
        // prepare_kswapd_sleep (v6.1): a balanced node → clear_pgdat_congested.
        this.pgdatWriteback = false;
        this.lruvecCongested = false;
      }
      if (!remaining && this.kswapdBalanced()) {
        // include/trace/events/vmscan.h (v3.2): kswapd_sleep "nid=%d".
        if (tr.on[TP_MM_VMSCAN_KSWAPD_SLEEP] !== 0) tr.emit(TP_MM_VMSCAN_KSWAPD_SLEEP, "nid=0");
        yield k.waitOn(this.kswapdWait);
      } else {
        this.ev[remaining ? EV_KSWAPD_LOW_WMARK_HIT_QUICKLY : EV_KSWAPD_HIGH_WMARK_HIT_QUICKLY]!++;
      }
      // kswapd_wake "nid=%d order=%d", as kswapd() calls balance_pgdat.
      if (tr.on[TP_MM_VMSCAN_KSWAPD_WAKE] !== 0) tr.emit(TP_MM_VMSCAN_KSWAPD_WAKE, "nid=0 order=0");
      yield* this.balancePgdat();
    }
  }

  /**
   * balance_pgdat for one zone and order 0 (v3.2): priorities 12 down to 0; shrink the zone while
   * it is below high + balance_gap; done when free ≥ WMARK_HIGH; give the zone up
   * (all_unreclaimable) once six times its LRU was scanned without a page freed; below DEF_PRIORITY
   * - 2, congestion_wait(HZ/10) after each pass unless the zone is under WMARK_MIN; restart from
   * DEF_PRIORITY after SWAP_CLUSTER_MAX pages reclaimed until balanced.
   *
   * The 6.1 era (kswapd61) keeps this loop but balances to WMARK_HIGH (balance gap 0; the boost is
   * always 0, see kernel-era.ts), never marks the zone all_unreclaimable, counts a pass that
   * reclaimed nothing as a kswapd failure and gives the node up at MAX_RECLAIM_RETRIES of them, and
   * holds ZONE_RECLAIM_ACTIVE (pcp lists capped at 4 × batch) while it runs (set_reclaim_active).
   */
  private *balancePgdat(): KernelCode {
    const kswapd61 = this.era.kswapd61;
    if (kswapd61) this.pcp.reclaimActive = true;
    yield* this.balancePgdatPasses(kswapd61);
    this.pcp.reclaimActive = false;
  }

  private *balancePgdatPasses(kswapd61: boolean): KernelCode {
    const k = this.k;
    const wm = this.wmark;
    for (;;) {
      this.ev[EV_PAGEOUTRUN]!++;
      let reclaimed = 0;
      let totalScanned = 0;
      let allOk = true;
      for (let priority = DEF_PRIORITY; priority >= 0; priority--) {
        allOk = true;
        if (this.allUnreclaimable && priority !== DEF_PRIORITY) break;
        if (this.watermarkOk(wm.high, 0)) break;
        // "Do some background aging of the anon list, to give pages a chance to be referenced
        // before reclaiming."
        this.rebalanceAnon();
        if (!this.watermarkOk(wm.high + this.balanceGap, 0)) {
          const nr = this.scanCount(priority, true);
          this.resetScNr();
          while (nr.inactiveAnon > 0 || nr.inactiveFile > 0 || nr.activeFile > 0) {
            if (this.anonLru !== null) {
              reclaimed += this.shrinkAnonBatch(nr, true);
              totalScanned += this.lastScanned;
              yield* this.waitSwapRequest();
            }
            const batch = Math.min(nr.inactiveFile, SWAP_CLUSTER_MAX);
            nr.inactiveFile -= batch;
            this.pageoutCount = 0;
            if (batch > 0) {
              reclaimed += this.shrinkInactiveList(batch, priority, true);
              totalScanned += this.lastScanned;
            }
            if (this.pageoutCount > 0) yield* this.wb.pageout(this.pageoutBuf, this.pageoutCount);
            nr.activeFile = this.shrinkActiveFile(nr.activeFile);
            yield k.cpu();
          }
          this.rebalanceAnon();
          if (this.era.reclaimThrottle61) yield* this.kswapdReclaimThrottle();
          const nrSlab = this.shrinkers.size > 0 ? this.shrinkers.shrink(priority) : 0;
          if (!kswapd61 && nrSlab === 0 && !this.zoneReclaimable()) this.allUnreclaimable = true;
        }
        if (this.allUnreclaimable) break;
        if (this.watermarkOk(wm.high, 0)) break;
        allOk = false;
        if (totalScanned > 0 && priority < DEF_PRIORITY - 2) {
          if (!this.watermarkOk(wm.min, 0)) {
            this.ev[EV_KSWAPD_SKIP_CONGESTION_WAIT]!++;
          } else {
            this.ev[EV_CONGESTION_WAITS]!++;
            yield k.waitOn(this.wb.congestionWait, Math.floor(k.jiffies.hz / 10));
          }
        }
        if (reclaimed >= SWAP_CLUSTER_MAX) break;
      }
      if (kswapd61) {
        // balance_pgdat (v6.1): "if (!sc.nr_reclaimed) pgdat->kswapd_failures++"; shrink_node's
        // reset when it reclaimed.
        if (reclaimed > 0) this.kswapdFailures = 0;
        else if (++this.kswapdFailures >= MAX_RECLAIM_RETRIES) return;
      }
      if (allOk) return;
      yield k.cpu();
    }
  }

  // ---- OOM killer and tasks ------------------------------------------------------------------

  /** A user task whose anonymous memory and writes the model tracks. */
  registerTask(name: string): MmTask {
    const t = new MmTask(this.tasks.length, name);
    this.tasks.push(t);
    return t;
  }

  /**
   * totalpages as constrained_alloc computes it for an unconstrained allocation (mm/oom_kill.c):
   * totalram_pages (what boot freed to the allocator) + total_swap_pages.
   */
  oomTotalPages(): number {
    return this.nPages - this.ownerCount(OWNER_KERNEL_RESERVED) + (this.swap?.totalPages ?? 0);
  }

  /**
   * out_of_memory → select_bad_process (oom.ts: badness by this.oomRules) → oom_kill_process: the
   * victim dies and its memory returns at once, as its exit's exit_mm would return it (the exit
   * itself is not simulated). No candidate is the kernel's panic("Out of memory and no killable
   * processes").
   */
  private outOfMemory(gfp: number): void {
    const victim = selectBadProcess(this.tasks, this.oomTotalPages(), this.oomRules);
    if (victim === null) {
      throw new ModelError(`Out of memory and no killable processes (allocating ${gfpName(gfp)})`);
    }
    const pages = victim.anonRss;
    this.freeAnon(victim, victim.anonPages.length);
    victim.killed = true;
    if (victim.sigkill !== null) this.k.wakeAll(victim.sigkill);
    if (this.tpOn[TP_MARK_VICTIM] !== 0) this.traceMarkVictim(victim);
    this.ev[EV_OOM_KILL]!++;
    this.oomKills.push({ time: this.k.now, task: victim.name, pages });
  }

  /**
   * oom:mark_victim (v4.7+ include/trace/events/oom.h, "pid=%d"; 3.2 has no oom tracepoints): the
   * pid of the thread running the victim task (same name), 0 if none.
   */
  private traceMarkVictim(victim: MmTask): void {
    const t = this.k.threadList().find((x) => x.name === victim.name);
    this.k.sim.trace.emit(TP_MARK_VICTIM, `pid=${t === undefined ? 0 : t.id + 1}`);
  }

  /**
   * Faults in `pages` anonymous pages for `task` (GFP_HIGHUSER_MOVABLE, may reclaim and OOM-kill).
   * Stops early if the task is killed; returns the pages it got.
   */
  *allocAnon(task: MmTask, pages: number): KernelCode<number> {
    const k = this.k;
    this.mightSleep(GFP_HIGHUSER_MOVABLE);
    let got = 0;
    while (got < pages && !task.killed) {
      // The fast path inline: one generator per page fault would dominate the cost.
      const pfn =
        this.pt.freeTop > this.fastLow
          ? this.take(GFP_HIGHUSER_MOVABLE, OWNER_ANON)
          : yield* this.allocSlowpath(GFP_HIGHUSER_MOVABLE, OWNER_ANON);
      if (task.killed) {
        // The OOM killer chose this task while it waited.
        this.release(pfn, OWNER_ANON);
        break;
      }
      this.mapAnon(task, task.anonPages.length, pfn, true);
      task.anonPages.push(pfn);
      this.charge(this.costs.anonFault, CAT_MM);
      got++;
      if ((got & (SWAP_CLUSTER_MAX - 1)) === 0) yield k.cpu();
    }
    yield k.cpu();
    return got;
  }

  /**
   * A user-space touch of `n` pages of the task's footprint, from virtual page `cursor` on and
   * wrapping: each resident page's pte becomes young (the MMU sets the accessed bit), which
   * page_referenced reports to reclaim; a page out on swap is faulted back in (swapIn). Returns the
   * next cursor.
   */
  *touchAnon(task: MmTask, cursor: number, n: number): KernelCode<number> {
    const pages = task.anonPages;
    const len = pages.length;
    if (len === 0) return 0;
    let v = cursor % len;
    for (let i = 0; i < n; i++) {
      const pfn = pages[v]!;
      if (pfn >= 0) this.pteYoung[pfn] = 1;
      else {
        yield* this.swapIn(task, v);
        if (task.killed) return 0;
      }
      if (++v === len) v = 0;
    }
    yield this.k.cpu();
    return v;
  }

  /**
   * Maps pfn at virtual page v of the task; with swap it joins an anon list: the active one for a
   * new page (page_add_new_anon_rmap), the inactive one for a page read from swap.
   */
  private mapAnon(task: MmTask, v: number, pfn: number, active: boolean): void {
    this.anonTask[pfn] = task.id + 1;
    this.anonVpage[pfn] = v;
    task.anonRss++;
    const lru = this.anonLru;
    if (lru !== null) (active ? lru.active : lru.inactive).addHead(pfn);
  }

  private unmapAnon(task: MmTask, pfn: number): void {
    this.anonTask[pfn] = 0;
    this.anonVpage[pfn] = -1;
    this.pteYoung[pfn] = 0;
    task.anonRss--;
    if (this.anonLru !== null) this.anonLru.remove(pfn);
  }

  /**
   * do_swap_page for a write fault (v3.2). A page still in the swap cache (lookup_swap_cache) and
   * not under writeback is a minor fault: reuse_swap_page deletes it from the swap cache (its slot
   * freed) and the pte maps it young where it lies on the LRU. Otherwise a major fault: a page for
   * the swap cache (read_swap_cache_async, GFP_HIGHUSER_MOVABLE, may reclaim), swap_readpage and the
   * wait for it (lock_page), then the pte maps it young and reuse_swap_page frees the slot; the page
   * goes on the inactive anon list (lru_cache_add_anon). A cached page under writeback is read
   * afresh (the model does not map a page under writeback), its frame left to reclaim.
   */
  private *swapIn(task: MmTask, v: number): KernelCode {
    const swap = this.swap!;
    const entry = task.anonPages[v]!;
    if (entry !== SWAPPED_OUT) {
      const cached = swapCachedPfn(entry);
      if ((this.pt.flags[cached]! & PG_WRITEBACK) === 0) {
        this.pt.move(cached, OWNER_SWAPCACHE, OWNER_ANON);
        this.swapCacheOnLru--;
        this.swapCacheHits++;
        task.anonPages[v] = cached;
        task.swapents--;
        swap.freeSlots(1);
        task.anonRss++;
        this.pteYoung[cached] = 1;
        this.charge(this.costs.anonFault, CAT_MM);
        return;
      }
      this.anonTask[cached] = 0;
      this.anonVpage[cached] = -1;
      task.anonPages[v] = SWAPPED_OUT;
    }
    this.pgmajfault++;
    const pfn =
      this.pt.freeTop - 2 > this.wmark.low
        ? this.take(GFP_HIGHUSER_MOVABLE, OWNER_SWAPCACHE)
        : yield* this.allocSlowpath(GFP_HIGHUSER_MOVABLE, OWNER_SWAPCACHE);
    if (!task.killed) {
      const ticket = swap.submitRead();
      while (!swap.readDone(ticket)) yield this.k.waitOn(swap.readWait);
    }
    // Killed meanwhile: exit_mm already dropped the swap entry.
    if (task.killed) {
      this.release(pfn, OWNER_SWAPCACHE);
      return;
    }
    this.pt.move(pfn, OWNER_SWAPCACHE, OWNER_ANON);
    task.anonPages[v] = pfn;
    task.swapents--;
    swap.freeSlots(1);
    this.mapAnon(task, v, pfn, false);
    this.pteYoung[pfn] = 1;
    this.charge(this.costs.anonFault, CAT_MM);
  }

  /**
   * SwapHost: end_page_writeback (mm/filemap.c, v3.2; 6.1's folio_end_writeback). A page with
   * PG_reclaim goes to the inactive tail for the next scan to free (rotate_reclaimable_page; 6.1's
   * lru_move_tail_fn takes it off the active list if reclaim activated it), counted in pgrotated.
   * With reclaimers throttled on writeback (6.1), acct_reclaim_writeback counts the page and wakes
   * them once more than SWAP_CLUSTER_MAX per throttled task are done.
   */
  swapWriteDone(pfn: number): void {
    const flags = this.pt.flags;
    const f = flags[pfn]!;
    flags[pfn] = 0;
    if ((f & PG_RECLAIM) !== 0) {
      const lru = this.anonLru!;
      if (lru.active.has(pfn)) lru.active.remove(pfn);
      else lru.inactive.remove(pfn);
      lru.inactive.addTail(pfn);
      this.ev[EV_PGROTATED]!++;
    }
    if (this.nrWritebackThrottled > 0) {
      this.nrThrottledWritten++;
      if (this.nrThrottledWritten - this.nrReclaimStart > SWAP_CLUSTER_MAX * this.nrWritebackThrottled)
        this.k.wakeAll(this.reclaimWaitWriteback);
    }
  }

  /**
   * __delete_from_swap_cache and the free of a swap cache page that is not under writeback (reclaim's
   * __remove_mapping, or free_swap_and_cache when its owner unmaps it): the owner's entry, if any,
   * becomes a plain swap entry.
   */
  private dropSwapCache(pfn: number): void {
    const t = this.anonTask[pfn]! - 1;
    if (t >= 0) {
      this.tasks[t]!.anonPages[this.anonVpage[pfn]!] = SWAPPED_OUT;
      this.anonTask[pfn] = 0;
      this.anonVpage[pfn] = -1;
    }
    this.pt.flags[pfn] = 0;
    this.swapCacheOnLru--;
    this.release(pfn, OWNER_SWAPCACHE, true);
  }

  /** SwapHost: clear_bdi_congested wakes congestion_wait's sleepers (congestion_wqh[BLK_RW_ASYNC]). */
  swapCongestionCleared(): void {
    this.k.wakeAll(this.wb.congestionWait);
  }

  /** Whether a page's pte is young: touched since reclaim last tested it (page_referenced). */
  pteIsYoung(pfn: number): boolean {
    return this.pteYoung[pfn] === 1;
  }

  /**
   * free_swap_and_cache for a swap cache page whose entry is unmapped: freed unless under writeback,
   * which leaves it to reclaim without an owner.
   */
  private freeSwapCache(pfn: number): void {
    this.anonTask[pfn] = 0;
    this.anonVpage[pfn] = -1;
    if ((this.pt.flags[pfn]! & PG_WRITEBACK) !== 0) return;
    this.anonLru!.remove(pfn);
    this.dropSwapCache(pfn);
  }

  /** munmap of the task's `pages` most recent anonymous pages, resident or out on swap. */
  freeAnon(task: MmTask, pages: number): void {
    if (pages > task.anonPages.length)
      throw new ModelError(`${task.name}: frees ${pages} of ${task.anonPages.length} anon pages`);
    for (let i = 0; i < pages; i++) {
      const p = task.anonPages.pop()!;
      if (p < 0) {
        task.swapents--;
        this.swap!.freeSlots(1);
        if (p !== SWAPPED_OUT) this.freeSwapCache(swapCachedPfn(p));
        continue;
      }
      this.unmapAnon(task, p);
      this.release(p, OWNER_ANON);
    }
  }

  // ---- page cache --------------------------------------------------------------------------

  /**
   * An application's write(2) of `bytes` to its file: generic_perform_write allocates each
   * page-cache page the write starts (GFP_HIGHUSER_MOVABLE, mapping_gfp_mask), copies into it, dirties
   * it and calls balance_dirty_pages_ratelimited, which may pause the writer. A page partly written
   * before is not allocated again (nor re-dirtied if it was written back meanwhile). Returns the
   * bytes written (fewer if the task is OOM-killed).
   */
  *writeFile(task: MmTask, bytes: number): KernelCode<number> {
    if (!Number.isInteger(bytes) || bytes < 0) throw new ModelError(`writeFile: bad byte count ${bytes}`);
    this.mightSleep(GFP_HIGHUSER_MOVABLE);
    const wb = this.wb;
    const first = Math.ceil(task.fileBytes / PAGE_SIZE);
    const last = Math.ceil((task.fileBytes + bytes) / PAGE_SIZE);
    let written = bytes;
    for (let i = first; i < last; i++) {
      if (task.killed) {
        written = (i - first) * PAGE_SIZE;
        break;
      }
      const pfn =
        this.pt.freeTop > this.fastLow
          ? this.take(GFP_HIGHUSER_MOVABLE, OWNER_PAGECACHE_DIRTY)
          : yield* this.allocSlowpath(GFP_HIGHUSER_MOVABLE, OWNER_PAGECACHE_DIRTY);
      wb.addDirtyPage(pfn);
      this.lru.markPageAccessed(pfn);
      this.charge(this.costs.pageCacheWrite, CAT_MM);
      if (wb.dirtied(task, 1)) yield* wb.balanceDirtyPages(task);
    }
    task.fileBytes += written;
    yield this.k.cpu();
    return written;
  }

  /**
   * pwrite(2) of whole pages [index, index + pages) of address space `as` (generic_perform_write):
   * a page not cached is allocated (GFP_HIGHUSER_MOVABLE) and added to the page cache
   * (add_to_page_cache_lru), a clean one is dirtied (set_page_dirty), every page written is marked
   * accessed, and balance_dirty_pages_ratelimited runs after each newly dirtied page. A page
   * under writeback is only marked accessed: 3.2 would dirty it again, but a page has one owner
   * here. Returns the pages written (fewer if the task is OOM-killed).
   */
  *writeFilePages(task: MmTask, as: number, index: number, pages: number): KernelCode<number> {
    this.mightSleep(GFP_HIGHUSER_MOVABLE);
    const lru = this.lru;
    const wb = this.wb;
    let written = 0;
    for (; written < pages && !task.killed; written++) {
      const i = index + written;
      let pfn = lru.findPage(as, i);
      let dirtied = true;
      if (pfn < 0) {
        pfn = this.pageCacheFastPath();
        if (pfn < 0) pfn = yield* this.allocSlowpath(GFP_HIGHUSER_MOVABLE, OWNER_PAGECACHE_CLEAN);
        lru.addToPageCache(pfn, as, i);
        wb.setPageDirty(pfn);
      } else if (this.pt.owner[pfn] === OWNER_PAGECACHE_CLEAN) {
        wb.setPageDirty(pfn);
      } else {
        dirtied = false;
      }
      lru.markPageAccessed(pfn);
      this.charge(this.costs.pageCacheWrite, CAT_MM);
      if (dirtied && wb.dirtied(task, 1)) yield* wb.balanceDirtyPages(task);
    }
    yield this.k.cpu();
    return written;
  }

  /**
   * read(2) of whole pages [index, index + pages) of address space `as` (do_generic_file_read):
   * pages not cached are allocated, added to the page cache and read from the disk in requests
   * of at most max_sectors_kb (page_cache_sync_readahead, reduced to the missing pages); then
   * every page still cached is marked accessed, which activates pages referenced before. Pages
   * reclaimed while the read waited are not read again (the kernel holds them locked). Returns
   * the pages read from the disk.
   */
  *readFilePages(task: MmTask, as: number, index: number, pages: number): KernelCode<number> {
    this.mightSleep(GFP_HIGHUSER_MOVABLE);
    const lru = this.lru;
    let missing = 0;
    let run = 0;
    for (let i = index; i < index + pages && !task.killed; i++) {
      if (lru.findPage(as, i) >= 0) continue;
      let pfn = this.pageCacheFastPath();
      if (pfn < 0) pfn = yield* this.allocSlowpath(GFP_HIGHUSER_MOVABLE, OWNER_PAGECACHE_CLEAN);
      lru.addToPageCache(pfn, as, i);
      missing++;
      if (++run === this.wb.disk.maxRequestPages) {
        yield* this.wb.readPages(run);
        run = 0;
      }
    }
    if (run > 0) yield* this.wb.readPages(run);
    for (let i = index; i < index + pages; i++) {
      const pfn = lru.findPage(as, i);
      if (pfn >= 0) lru.markPageAccessed(pfn);
    }
    yield this.k.cpu();
    return missing;
  }

  /**
   * A clean page-cache page from the fast path (GFP_HIGHUSER_MOVABLE), or -1 when the caller must
   * take the slow path: a generator per page would dominate the cost, as in allocAnon.
   */
  private pageCacheFastPath(): number {
    return this.pt.freeTop - 2 > this.wmark.low ? this.take(GFP_HIGHUSER_MOVABLE, OWNER_PAGECACHE_CLEAN) : -1;
  }

  /**
   * Scenario setup: `pages` page-cache pages present at start (a guest that has run for a while),
   * taken from the free pages without watermark checks. Dirty ones count as dirtied now.
   */
  prefillPageCache(pages: number, state: "clean" | "dirty"): void {
    if (!Number.isInteger(pages) || pages < 0 || pages > this.pt.freeTop) {
      throw new ModelError(`prefillPageCache: ${pages} pages requested, ${this.pt.freeTop} free`);
    }
    for (let i = 0; i < pages; i++) {
      if (state === "clean") this.lru.addHead(this.take(GFP_HIGHUSER_MOVABLE, OWNER_PAGECACHE_CLEAN));
      else this.wb.addDirtyPage(this.take(GFP_HIGHUSER_MOVABLE, OWNER_PAGECACHE_DIRTY));
    }
  }

  // ---- slab ----------------------------------------------------------------------------------

  /** The kmalloc cache serving `size` bytes (kmalloc_index), for sizes up to one page. */
  kmallocCache(size: number): KmemCache {
    for (let i = 0; i < KMALLOC_SIZES.length; i++)
      if (size <= KMALLOC_SIZES[i]!) return this.kmallocCaches[i]!;
    throw new ModelError(`kmalloc(${size}): larger than an order-0 slab object`);
  }

  /** kmem_cache_alloc for callers that cannot sleep; -1 when a new slab page cannot be had. */
  kmemCacheAllocAtomic(cache: KmemCache, gfp: number): number {
    if ((gfp & __GFP_WAIT) !== 0) {
      throw new ModelError(`kmemCacheAllocAtomic(${gfpName(gfp)}): a sleeping gfp needs kmemCacheAlloc`);
    }
    return this.kmemCacheAllocFast(cache, gfp);
  }

  /**
   * kmem_cache_alloc that may sleep (new slab via the slow path) when gfp has __GFP_WAIT. Only a new
   * slab page from __alloc_pages_slowpath takes a generator; anything else has returned already.
   */
  kmemCacheAlloc(cache: KmemCache, gfp: number): KernelCode<number> {
    const obj = this.kmemCacheAllocFast(cache, gfp);
    return obj !== WOULD_SLEEP ? this.returned.of(obj) : this.kmemCacheAllocSlow(cache, gfp);
  }

  /** kmem_cache_alloc up to a new slab page's slow path: an object, -1, or WOULD_SLEEP. */
  private kmemCacheAllocFast(cache: KmemCache, gfp: number): number {
    if (this.faults !== null && this.shouldFailslab(cache, gfp)) return this.slabAllocated(cache, gfp, -1);
    const obj = cache.alloc();
    if (obj >= 0) return this.slabAllocated(cache, gfp, obj);
    const pfn = this.allocFast(gfp, OWNER_SLAB);
    return pfn === WOULD_SLEEP
      ? WOULD_SLEEP
      : this.slabAllocated(cache, gfp, this.objectFromNewSlab(cache, pfn));
  }

  /** The rest of kmemCacheAlloc after kmemCacheAllocFast returned WOULD_SLEEP: the slab page's slow path. */
  private *kmemCacheAllocSlow(cache: KmemCache, gfp: number): KernelCode<number> {
    const pfn = yield* this.allocSlowpath(gfp, OWNER_SLAB);
    return this.slabAllocated(cache, gfp, this.objectFromNewSlab(cache, pfn));
  }

  /**
   * slab_pre_alloc_hook → should_failslab(s->objsize, flags, s->flags) (mm/slub.c, v3.2): before
   * the per-cpu freelist, so it fails even while the cache has free objects; slab_alloc returns
   * NULL without slab_out_of_memory. Counted as the cache's failure.
   */
  private shouldFailslab(cache: KmemCache, gfp: number): boolean {
    if (!this.faults!.shouldFailslab(cache.objSize, gfp, this.allocSite, this.faultContext(), this.k.now))
      return false;
    cache.allocFailures++;
    this.ev[EV_ALLOCFAIL_INJECTED]!++;
    return true;
  }

  /** A new slab from page `pfn` (or a failure when it is -1), and its first object. */
  private objectFromNewSlab(cache: KmemCache, pfn: number): number {
    if (pfn < 0) {
      cache.allocFailures++;
      return -1;
    }
    return cache.allocFromNewSlab(pfn);
  }

  /** Charges a successful kmem_cache_alloc; traces it and failures (obj -1). */
  private slabAllocated(cache: KmemCache, gfp: number, obj: number): number {
    if (obj >= 0) this.charge(this.costs.slabAlloc, CAT_MM);
    const tp = cache === this.skbuffHeadCache ? TP_KMEM_CACHE_ALLOC : TP_KMALLOC;
    if (this.tpOn[tp] !== 0) this.traceSlabAlloc(tp, cache, gfp, obj);
    return obj;
  }

  /**
   * kmem:kmalloc (a kmalloc-N cache) or kmem:kmem_cache_alloc (skbuff_head_cache), as slab_alloc's
   * callers trace them, NULL included (mm/slub.c, v3.2). include/trace/events/kmem.h kmem_alloc:
   * "call_site=%lx ptr=%p bytes_req=%zu bytes_alloc=%zu gfp_flags=%s"; call_site names the
   * caller, ptr the cache and object, and bytes_req is the object size (the callers pass a cache).
   */
  private traceSlabAlloc(tp: number, cache: KmemCache, gfp: number, obj: number): void {
    const site = tp === TP_KMALLOC ? (KMALLOC_CALL_SITES[this.allocSite] ?? "unknown") : "__alloc_skb";
    this.k.sim.trace.emit(
      tp,
      `call_site=${site} ptr=${obj < 0 ? "(null)" : `${cache.name}:${obj}`} bytes_req=${cache.objSize} ` +
        `bytes_alloc=${cache.objSize} gfp_flags=${gfpName(gfp)}`,
    );
  }

  kmemCacheFree(cache: KmemCache, obj: number): void {
    const pfn = cache.free(obj);
    this.charge(this.costs.slabFree, CAT_MM);
    if (pfn >= 0) this.release(pfn, OWNER_SLAB);
  }

  /** /proc/slabinfo-like rows. */
  slabinfo(): {
    name: string;
    activeObjs: number;
    numObjs: number;
    objSize: number;
    objPerSlab: number;
    numSlabs: number;
  }[] {
    return this.caches.map((c) => ({
      name: c.name,
      activeObjs: c.inuse,
      numObjs: c.nrSlabs * c.objsPerSlab,
      objSize: c.objSize,
      objPerSlab: c.objsPerSlab,
      numSlabs: c.nrSlabs,
    }));
  }

  // ---- observation -----------------------------------------------------------------------------

  /** A plain snapshot of gauges and counters, named like /proc/vmstat where the kernel has one. */
  vmstat(): Record<string, number> {
    const c = this.pt.counts;
    this.wb.updateDirtyLimits();
    const out: Record<string, number> = {
      // NR_FREE_PAGES: buddy pages only, as in 3.2; pages on the pcp lists are pcp_count.
      nr_free_pages: c[OWNER_FREE]!,
      nr_inactive_file: this.lru.inactive.size,
      nr_active_file: this.lru.active.size,
      nr_file_pages: this.lru.size,
      nr_dirty: c[OWNER_PAGECACHE_DIRTY]!,
      // NR_WRITEBACK: page cache and swap cache pages under writeback.
      nr_writeback: c[OWNER_PAGECACHE_WRITEBACK]! + (this.swap?.writesInFlight ?? 0),
      nr_anon_pages: c[OWNER_ANON]!,
      nr_slab_unreclaimable: c[OWNER_SLAB]!,
      nr_dirty_threshold: this.wb.dirtyThresh,
      nr_dirty_background_threshold: this.wb.bgThresh,
      min_free_kbytes: this.minFreeKbytes,
      wmark_min: this.wmark.min,
      wmark_low: this.wmark.low,
      wmark_high: this.wmark.high,
      all_unreclaimable: this.allUnreclaimable ? 1 : 0,
      kswapd_failures: this.kswapdFailures,
      reclaim_retry_give_ups: this.reclaimRetryGiveUps,
      // Swap (swap.ts): the anon lists exist only with swap; without it all anon pages count as active.
      nr_active_anon: this.anonLru === null ? c[OWNER_ANON]! : this.anonLru.active.size,
      nr_inactive_anon: this.anonLru === null ? 0 : this.anonLru.inactive.size,
      pswpin: this.swap?.pswpin ?? 0,
      pswpout: this.swap?.pswpout ?? 0,
      pgmajfault: this.pgmajfault,
      nr_swap_pages: this.swap?.freePages ?? 0,
      swap_used_pages: this.swap?.used ?? 0,
      // NR_SWAPCACHE (v5.12+): here the swap cache pages on the anon lists.
      nr_swapcached: this.swapCacheOnLru,
      swapcache_hits: this.swapCacheHits,
      swap_request_waits: this.swap?.requestWaits ?? 0,
      swap_requests_in_flight: this.swap?.requestsInFlight ?? 0,
      // /proc/zoneinfo's pagesets (count summed over CPUs, high, batch) and the model's pcp traffic.
      pcp_count: this.pcp.total,
      pcp_high: this.pcp.high,
      pcp_batch: this.pcp.batch,
      pcp_drain_all_pages: this.pcp.drainAllPagesCalls,
      pcp_free_bulk_pages: this.pcp.freeBulkPages,
      pcp_rmqueue_bulk_pages: this.pcp.rmqueueBulkPages,
      disk_requests_in_flight: this.wb.reqCount,
      disk_congested: this.wb.congested ? 1 : 0,
    };
    for (let o = 0; o < OWNER_COUNT; o++) out[`owner_${ownerName(o)}`] = c[o]!;
    for (let e = 0; e < EV_COUNT; e++) out[EV_NAMES[e]!] = this.ev[e]!;
    for (const [gfp, n] of this.failuresByGfp) out[`allocfail_gfp_${gfpName(gfp)}`] = n;
    for (const cache of this.caches) {
      out[`slab_${cache.name}_pages`] = cache.nrSlabs;
      out[`slab_${cache.name}_objects`] = cache.inuse;
    }
    return out;
  }

  /**
   * Checks every accounting invariant; throws a ModelError naming the first violation: owner counts
   * against a recount, the free stack against the FREE pages, slab capacity and pages, LRU membership
   * (exactly the page-cache pages, once each), the dirty list and writeback ring, PG_reclaim only on
   * page-cache pages, and task rss against the anon pages.
   */
  checkInvariant(): void {
    const pt = this.pt;
    pt.check();
    this.pcp.check();
    let slabPages = 0;
    for (const cache of this.caches) {
      cache.check(pt.owner);
      slabPages += cache.nrSlabs;
    }
    if (slabPages !== pt.counts[OWNER_SLAB]) {
      throw new ModelError(
        `kmem caches hold ${slabPages} pages but ${pt.counts[OWNER_SLAB]} are owned by slab`,
      );
    }
    const isCache = (o: number) =>
      o === OWNER_PAGECACHE_CLEAN || o === OWNER_PAGECACHE_DIRTY || o === OWNER_PAGECACHE_WRITEBACK;
    const seen = new Uint8Array(this.nPages);
    const onLru = this.lru.check((p) => isCache(pt.owner[p]!), seen);
    const cachePages =
      pt.counts[OWNER_PAGECACHE_CLEAN]! +
      pt.counts[OWNER_PAGECACHE_DIRTY]! +
      pt.counts[OWNER_PAGECACHE_WRITEBACK]!;
    if (onLru !== cachePages)
      throw new ModelError(`LRU holds ${onLru} pages but ${cachePages} are page cache`);
    this.wb.check();
    let underWriteback = 0;
    for (let p = 0; p < this.nPages; p++) {
      const f = pt.flags[p]!;
      if (f === 0) continue;
      const o = pt.owner[p]!;
      if (o === OWNER_SWAPCACHE) {
        if ((f & PG_WRITEBACK) !== 0) underWriteback++;
      } else if (!isCache(o) || (f & PG_WRITEBACK) !== 0) {
        throw new ModelError(`pfn ${p} (${ownerName(o)}) has page flags ${f}`);
      }
    }
    if (underWriteback !== (this.swap?.writesInFlight ?? 0))
      throw new ModelError(
        `${underWriteback} swap cache pages have PG_writeback, ${this.swap?.writesInFlight} are being written`,
      );
    let counted = 0;
    for (let p = 0; p < this.nPages; p++) {
      if (this.pageRef[p]! <= 0) continue;
      for (let q = p; q >= 0; q = this.compoundNext[q]!) {
        if (pt.owner[q] !== OWNER_PAGE_FRAG)
          throw new ModelError(`counted page ${p}: pfn ${q} is ${ownerName(pt.owner[q]!)}, not page_frag`);
        counted++;
      }
      if (counted > this.nPages) throw new ModelError(`counted page ${p}: its compound chain loops`);
    }
    if (counted !== this.countedPages || counted !== pt.counts[OWNER_PAGE_FRAG]) {
      throw new ModelError(
        `counted pages hold ${counted} pfns, ${this.countedPages} accounted, ` +
          `${pt.counts[OWNER_PAGE_FRAG]} owned by page_frag`,
      );
    }
    let rss = 0;
    for (const t of this.tasks) {
      if (t.killed && t.anonRss > 0)
        throw new ModelError(`killed task ${t.name} still holds ${t.anonRss} pages`);
      let resident = 0;
      for (let v = 0; v < t.anonPages.length; v++) {
        const p = t.anonPages[v]!;
        if (p === SWAPPED_OUT) continue;
        if (p < 0) {
          const c = swapCachedPfn(p);
          if (pt.owner[c] !== OWNER_SWAPCACHE || this.anonTask[c] !== t.id + 1 || this.anonVpage[c] !== v)
            throw new ModelError(
              `${t.name}: page ${v} in the swap cache at ${c}, which is ${ownerName(pt.owner[c]!)}`,
            );
          continue;
        }
        resident++;
        if (pt.owner[p] !== OWNER_ANON || this.anonTask[p] !== t.id + 1) {
          throw new ModelError(
            `${t.name}: anon page ${p} is ${ownerName(pt.owner[p]!)} of task ${this.anonTask[p]! - 1}`,
          );
        }
      }
      if (resident !== t.anonRss || t.anonPages.length - resident !== t.swapents) {
        throw new ModelError(
          `${t.name}: ${resident} resident of ${t.anonPages.length} pages, but rss ${t.anonRss} and swapents ${t.swapents}`,
        );
      }
      rss += t.anonRss;
    }
    if (rss !== pt.counts[OWNER_ANON])
      throw new ModelError(`tasks hold ${rss} anon pages but ${pt.counts[OWNER_ANON]} exist`);
    this.checkSwap(seen);
  }

  /** With swap, the anon lists hold exactly the anon pages, and slots match the tasks' swap entries. */
  private checkSwap(seen: Uint8Array): void {
    const pt = this.pt;
    const swap = this.swap;
    if (swap === null || this.anonLru === null) {
      if (pt.counts[OWNER_SWAPCACHE] !== 0)
        throw new ModelError(`${pt.counts[OWNER_SWAPCACHE]} swap cache pages without swap`);
      return;
    }
    const onLru = (p: number) => pt.owner[p] === OWNER_ANON || pt.owner[p] === OWNER_SWAPCACHE;
    const onLists = this.anonLru.active.check(onLru, seen) + this.anonLru.inactive.check(onLru, seen);
    if (onLists !== pt.counts[OWNER_ANON]! + this.swapCacheOnLru) {
      throw new ModelError(
        `anon lists hold ${onLists} pages but ${pt.counts[OWNER_ANON]} are anon and ${this.swapCacheOnLru} in the swap cache`,
      );
    }
    const entries = this.tasks.reduce((n, t) => n + t.swapents, 0);
    if (entries !== swap.used)
      throw new ModelError(`tasks hold ${entries} swap entries but ${swap.used} slots are used`);
    if (swap.used > swap.totalPages)
      throw new ModelError(`swap: ${swap.used} of ${swap.totalPages} slots used`);
  }
}
