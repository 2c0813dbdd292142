/**
 * The per-cpu page lists of Linux 3.2 (mm/page_alloc.c: struct per_cpu_pages, free_hot_cold_page,
 * buffered_rmqueue, rmqueue_bulk, free_pcppages_bulk, drain_pages) for the model's one zone, and
 * 6.1's sizes and freeing (zone_batchsize, zone_highsize, nr_pcp_high, nr_pcp_free) when the era
 * asks for them.
 *
 * A page on a pcp list is free to the kernel but not a buddy page: it is owned by OWNER_PCP, so
 * the free stack of the PageTable (NR_FREE_PAGES, what zone_watermark_ok reads) does not count it.
 * Order-0 only, as the model. All lists share one pair of link arrays (a page is on at most one
 * list); list `cpu * MIGRATE_PCPTYPES + migratetype`.
 */
import { ModelError } from "../../sim/simulator.ts";
import { __GFP_COLD, __GFP_MOVABLE, __GFP_RECLAIMABLE } from "./gfp.ts";
import { OWNER_PCP, ownerName, type PageTable } from "./page-table.ts";
import { PAGE_SHIFT, ZONE_BATCHSIZE_CAP_61, zoneBatchsize, zoneHighsize } from "./watermarks.ts";

/**
 * min_percpu_pagelist_fract (kernel/sysctl.c, v3.2): vm.percpu_pagelist_fraction's lower bound; 6.1's
 * vm.percpu_pagelist_high_fraction has the same (MIN_PERCPU_PAGELIST_HIGH_FRACTION, mm/page_alloc.c).
 */
export const MIN_PERCPU_PAGELIST_FRACT = 8;

/** CONFIG_PCP_BATCH_SCALE_MAX (mm/Kconfig, 6.1.y): nr_pcp_free's free_factor stops at 5. */
export const PCP_BATCH_SCALE_MAX = 5;

/** 6.1's sizing: the zone's low watermark and managed pages that zone_highsize reads. */
export interface Pcp61Sizing {
  lowWmark: number;
}

/** Migrate types kept on the pcp lists (include/linux/mmzone.h, v3.2); MIGRATE_PCPTYPES = 3. */
export const MIGRATE_UNMOVABLE = 0;
export const MIGRATE_RECLAIMABLE = 1;
export const MIGRATE_MOVABLE = 2;
export const MIGRATE_PCPTYPES = 3;
export const MIGRATE_NAMES: readonly string[] = ["unmovable", "reclaimable", "movable"];

/**
 * allocflags_to_migratetype (include/linux/gfp.h, v3.2): __GFP_MOVABLE → MOVABLE (page cache and
 * anon, GFP_HIGHUSER_MOVABLE), __GFP_RECLAIMABLE → RECLAIMABLE, anything else (GFP_ATOMIC,
 * GFP_KERNEL: driver pages, skbs, slab) → UNMOVABLE.
 */
export function allocflagsToMigratetype(gfp: number): number {
  return (((gfp & __GFP_MOVABLE) !== 0 ? 1 : 0) << 1) | ((gfp & __GFP_RECLAIMABLE) !== 0 ? 1 : 0);
}

const END = -1;

export class PerCpuPages {
  /** pcp->batch: pages moved to or from the buddy lists at once (zone_batchsize, setup_pageset). */
  readonly batch: number;
  /** pcp->high = 6 * batch (setup_pageset): a free reaching it returns `batch` pages to buddy. */
  readonly high: number;
  /** pcp->count per CPU, all migrate types together. */
  readonly count: Int32Array;
  /** 6.1 only: pcp->free_factor per CPU (nr_pcp_free doubles the bulk free with each). */
  readonly freeFactor: Int32Array;
  /** 6.1's nr_pcp_high and nr_pcp_free instead of 3.2's high = 6 × batch, free batch. */
  readonly sizing61: boolean;
  /**
   * 6.1: ZONE_RECLAIM_ACTIVE, set by kswapd's balance_pgdat while it runs (set_reclaim_active,
   * mm/vmscan.c): nr_pcp_high then caps the lists at batch × 4.
   */
  reclaimActive = false;
  /** Per list (cpu * MIGRATE_PCPTYPES + migratetype). */
  readonly head: Int32Array;
  readonly tail: Int32Array;
  readonly size: Int32Array;
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /**
   * The page's migrate type: set_page_private at allocation (rmqueue_bulk). The kernel frees to
   * the list of get_pageblock_migratetype(page); the model has no pageblocks and takes the type the
   * page was allocated as, which is its pageblock's type unless the buddy allocator had to steal.
   */
  readonly migratetype: Uint8Array;
  /** Counters: drain_all_pages calls, pages free_pcppages_bulk returned, pages rmqueue_bulk took. */
  drainAllPagesCalls = 0;
  freeBulkPages = 0;
  rmqueueBulkPages = 0;

  /**
   * `percpuPagelistFraction` is vm.percpu_pagelist_fraction (3.2) or percpu_pagelist_high_fraction
   * (6.1): 0 (the default) sizes the lists with zone_batchsize (and 6.1's zone_highsize), otherwise
   * high = present pages / fraction (3.2) or / fraction / CPUs (6.1), at least 8, the sysctl's
   * minimum. `sizing61` selects 6.1.
   */
  constructor(
    readonly pt: PageTable,
    readonly ncpus: number,
    percpuPagelistFraction = 0,
    sizing61: Pcp61Sizing | null = null,
  ) {
    const f = percpuPagelistFraction;
    if (f !== 0 && (!Number.isInteger(f) || f < MIN_PERCPU_PAGELIST_FRACT)) {
      throw new ModelError(
        `percpuPagelistFraction must be 0 or an integer ≥ ${MIN_PERCPU_PAGELIST_FRACT}, got ${f}`,
      );
    }
    this.sizing61 = sizing61 !== null;
    if (sizing61 !== null) {
      // zone_set_pageset_high_and_batch: batch = max(1, zone_batchsize), high = zone_highsize.
      this.batch = Math.max(1, zoneBatchsize(pt.nPages, ZONE_BATCHSIZE_CAP_61));
      this.high = zoneHighsize(sizing61.lowWmark, pt.nPages, this.batch, ncpus, f);
    } else if (f === 0) {
      // setup_pageset: high = 6 * batch, batch = max(1, batch); a zone under 32 MiB has batch 0
      // from zone_batchsize, so high 0: every free goes straight back to buddy.
      const batch = zoneBatchsize(pt.nPages);
      this.high = 6 * batch;
      this.batch = Math.max(1, batch);
    } else {
      // setup_pagelist_highmark: batch = max(1, high / 4), at most PAGE_SHIFT * 8.
      this.high = Math.floor(pt.nPages / f);
      this.batch = Math.min(Math.max(1, Math.floor(this.high / 4)), PAGE_SHIFT * 8);
    }
    this.count = new Int32Array(ncpus);
    this.freeFactor = new Int32Array(ncpus);
    const lists = ncpus * MIGRATE_PCPTYPES;
    this.head = new Int32Array(lists).fill(END);
    this.tail = new Int32Array(lists).fill(END);
    this.size = new Int32Array(lists);
    // A page's links mean something only while it is OWNER_PCP (check() walks the lists from
    // their heads), so they start zeroed and are not cleared when it leaves a list.
    this.next = new Int32Array(pt.nPages);
    this.prev = new Int32Array(pt.nPages);
    this.migratetype = new Uint8Array(pt.nPages);
  }

  /** Pages on every CPU's lists (the sum of pcp->count). */
  get total(): number {
    return this.pt.counts[OWNER_PCP]!;
  }

  /**
   * buffered_rmqueue for order 0 on `cpu`: the list of the gfp's migrate type, refilled with
   * rmqueue_bulk(batch) from the buddy lists when empty; a hot request takes the head, a cold one
   * (__GFP_COLD) the tail. Returns the page, now owned by `owner`, or -1 when list and buddy lists
   * are both empty. The caller has done the watermark check (get_page_from_freelist).
   */
  rmqueue(cpu: number, gfp: number, owner: number): number {
    const mt = allocflagsToMigratetype(gfp);
    const l = cpu * MIGRATE_PCPTYPES + mt;
    const cold = (gfp & __GFP_COLD) !== 0;
    // rmqueue_pcplist (6.1): "On allocation, reduce the number of pages that are batch freed."
    if (this.sizing61) this.freeFactor[cpu]! >>= 1;
    if (this.size[l] === 0) {
      const n = this.rmqueueBulk(l, mt, cold);
      this.count[cpu]! += n;
      if (n === 0) return -1;
    }
    const pfn = cold ? this.tail[l]! : this.head[l]!;
    this.unlink(l, pfn);
    this.count[cpu]!--;
    // Inline PageTable.move: a page on a pcp list is OWNER_PCP by construction (check()).
    const pt = this.pt;
    pt.owner[pfn] = owner;
    pt.counts[OWNER_PCP]!--;
    pt.counts[owner]!++;
    return pfn;
  }

  /**
   * free_hot_cold_page on `cpu` of a page owned by `owner`: onto its migrate type's list, hot at
   * the head, cold at the tail; when pcp->count reaches high, free_pcppages_bulk(batch). Returns
   * true when pages went back to the buddy lists (the caller resets the zone's reclaim state).
   */
  free(cpu: number, pfn: number, owner: number, cold: boolean): boolean {
    const pt = this.pt;
    if (pt.owner[pfn] !== owner) pt.move(pfn, owner, OWNER_PCP); // throws, naming the owner found
    pt.owner[pfn] = OWNER_PCP;
    pt.counts[owner]!--;
    pt.counts[OWNER_PCP]!++;
    pt.flags[pfn] = 0;
    const l = cpu * MIGRATE_PCPTYPES + this.migratetype[pfn]!;
    if (cold) this.linkTail(l, pfn);
    else this.linkHead(l, pfn);
    const count = ++this.count[cpu]!;
    if (!this.sizing61) {
      if (count < this.high) return false;
      this.freeBulk(cpu, this.batch);
      return true;
    }
    const high = this.nrPcpHigh();
    if (count < high) return false;
    // free_pcppages_bulk: count = min(pcp->count, count).
    this.freeBulk(cpu, Math.min(count, this.nrPcpFree(cpu, high)));
    return true;
  }

  /** nr_pcp_high (v6.1, order 0): high, or at most batch × 4 while reclaim is active. */
  nrPcpHigh(): number {
    if (this.high === 0) return 0;
    return this.reclaimActive ? Math.min(this.batch << 2, this.high) : this.high;
  }

  /**
   * nr_pcp_free (v6.1, order 0): batch << free_factor clamped to [batch, high - batch], leaving at
   * least a batch on the list; free_factor grows while that is below high - batch (at most
   * PCP_BATCH_SCALE_MAX), so frees without allocations in between return ever larger bulks.
   */
  private nrPcpFree(cpu: number, high: number): number {
    const batch = this.batch;
    if (high < batch) return 1;
    const maxNrFree = high - batch;
    const b = batch << this.freeFactor[cpu]!;
    if (b < maxNrFree && this.freeFactor[cpu]! < PCP_BATCH_SCALE_MAX) this.freeFactor[cpu]!++;
    return Math.min(Math.max(b, batch), maxNrFree);
  }

  /** drain_pages(cpu): every page on the CPU's lists back to buddy; returns how many. */
  drain(cpu: number): number {
    const n = this.count[cpu]!;
    if (n > 0) this.freeBulk(cpu, n);
    return n;
  }

  /**
   * drain_all_pages: on_each_cpu(drain_local_pages, NULL, 1), every CPU's lists back to buddy
   * (synchronously: the caller waits for the IPIs). Returns the pages drained.
   */
  drainAll(): number {
    this.drainAllPagesCalls++;
    let n = 0;
    for (let cpu = 0; cpu < this.ncpus; cpu++) n += this.drain(cpu);
    return n;
  }

  /**
   * free_pcppages_bulk: `count` pages from the lists' tails (the coldest) to the buddy lists,
   * round-robin over the migrate types starting after UNMOVABLE, taking more from fuller lists
   * (batch_free grows with each empty list met; the last non-empty list gives all that is left).
   * The caller guarantees count ≤ pcp->count.
   */
  private freeBulk(cpu: number, count: number): void {
    const base = cpu * MIGRATE_PCPTYPES;
    const size = this.size;
    let mt = 0;
    let batchFree = 0;
    let toFree = count;
    while (toFree > 0) {
      do {
        batchFree++;
        if (++mt === MIGRATE_PCPTYPES) mt = 0;
      } while (size[base + mt] === 0);
      if (batchFree === MIGRATE_PCPTYPES) batchFree = toFree;
      const l = base + mt;
      do {
        const pfn = this.tail[l]!;
        this.unlink(l, pfn);
        this.pt.release(pfn, OWNER_PCP);
      } while (--toFree > 0 && --batchFree > 0 && size[l]! > 0);
    }
    this.count[cpu]! -= count;
    this.freeBulkPages += count;
  }

  /**
   * rmqueue_bulk(batch) into empty list `l`: up to batch buddy pages, in the order taken for a hot
   * request and reversed for a cold one (each page is added behind the previous, with list_add or
   * list_add_tail). Returns the pages taken.
   */
  private rmqueueBulk(l: number, mt: number, cold: boolean): number {
    const pt = this.pt;
    const n = Math.min(this.batch, pt.freeTop);
    for (let i = 0; i < n; i++) {
      const pfn = pt.take(OWNER_PCP);
      this.migratetype[pfn] = mt;
      if (cold) this.linkHead(l, pfn);
      else this.linkTail(l, pfn);
    }
    this.rmqueueBulkPages += n;
    return n;
  }

  private linkHead(l: number, pfn: number): void {
    const h = this.head[l]!;
    this.prev[pfn] = END;
    this.next[pfn] = h;
    if (h === END) this.tail[l] = pfn;
    else this.prev[h] = pfn;
    this.head[l] = pfn;
    this.size[l]!++;
  }

  private linkTail(l: number, pfn: number): void {
    const t = this.tail[l]!;
    this.next[pfn] = END;
    this.prev[pfn] = t;
    if (t === END) this.head[l] = pfn;
    else this.next[t] = pfn;
    this.tail[l] = pfn;
    this.size[l]!++;
  }

  private unlink(l: number, pfn: number): void {
    const n = this.next[pfn]!;
    const p = this.prev[pfn]!;
    if (p === END) this.head[l] = n;
    else this.next[p] = n;
    if (n === END) this.tail[l] = p;
    else this.prev[n] = p;
    this.size[l]!--;
  }

  /**
   * Walks every list: links, no page twice, members owned by OWNER_PCP with the list's migrate
   * type, list sizes summing to pcp->count per CPU, and the counts summing to the OWNER_PCP pages
   * (so every OWNER_PCP page is on exactly one list). Throws a ModelError naming the first fault.
   */
  check(): void {
    const pt = this.pt;
    const seen = new Uint8Array(pt.nPages);
    let total = 0;
    for (let cpu = 0; cpu < this.ncpus; cpu++) {
      let onLists = 0;
      for (let mt = 0; mt < MIGRATE_PCPTYPES; mt++) {
        const l = cpu * MIGRATE_PCPTYPES + mt;
        const name = `pcp list cpu ${cpu} ${MIGRATE_NAMES[mt]}`;
        let n = 0;
        let prev = END;
        for (let p = this.head[l]!; p !== END; p = this.next[p]!) {
          if (p < 0 || p >= pt.nPages) throw new ModelError(`${name}: link to invalid pfn ${p}`);
          if (seen[p] !== 0) throw new ModelError(`${name}: pfn ${p} appears twice (or a cycle)`);
          if (this.prev[p] !== prev) throw new ModelError(`${name}: pfn ${p} has a broken back link`);
          if (pt.owner[p] !== OWNER_PCP)
            throw new ModelError(`${name}: pfn ${p} is owned by ${ownerName(pt.owner[p]!)}`);
          if (this.migratetype[p] !== mt)
            throw new ModelError(`${name}: pfn ${p} has migrate type ${this.migratetype[p]}`);
          seen[p] = 1;
          prev = p;
          n++;
        }
        if (prev !== this.tail[l]) throw new ModelError(`${name}: tail ${this.tail[l]} is not ${prev}`);
        if (n !== this.size[l]) throw new ModelError(`${name}: size ${this.size[l]} but ${n} members`);
        onLists += n;
      }
      if (onLists !== this.count[cpu])
        throw new ModelError(`pcp cpu ${cpu}: count ${this.count[cpu]} but ${onLists} pages on its lists`);
      total += onLists;
    }
    if (total !== pt.counts[OWNER_PCP])
      throw new ModelError(`pcp lists hold ${total} pages but ${pt.counts[OWNER_PCP]} are owned by pcp`);
  }
}
