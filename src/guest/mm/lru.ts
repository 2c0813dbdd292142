/**
 * The file LRU as 3.2 keeps it: an inactive and an active list (zone->lru[LRU_INACTIVE_FILE] and
 * [LRU_ACTIVE_FILE]) with the PG_referenced / PG_active page flags, and the page cache's index of
 * which file page each pfn holds (mapping, index), so that freeing a page removes it from its file.
 *
 * - lru_cache_add_file puts a new page-cache page at the inactive head (mm/swap.c lru_cache_add_lru).
 * - mark_page_accessed (mm/swap.c): inactive,unreferenced → inactive,referenced → active,unreferenced
 *   (activate_page, counted as pgactivate) → active,referenced. The write path (generic_perform_write)
 *   and the read path (do_generic_file_read) call it for every page they touch (mm/filemap.c).
 * - shrink_active_list (mm/vmscan.c) takes pages from the active tail, counts them as pgrefill and, for
 *   unmapped file pages (page_referenced finds no pte; only VM_EXEC mappings stay active), clears
 *   PG_active and puts them at the inactive head (move_active_pages_to_lru, pgdeactivate). shrink_list
 *   calls it only while inactive_file_is_low: active > inactive (inactive_file_is_low_global).
 * - shrink_inactive_list takes from the inactive tail; page_check_references is in mm.ts (its only
 *   caller), and kept pages return to the head of the list their PG_active names (putback_lru_pages).
 *
 * Page-cache pages here are never mapped into a process (read/write, not mmap), so page_referenced
 * always returns 0: PG_referenced is the only reference reclaim sees.
 */
import { ModelError } from "../../sim/simulator.ts";
import { EV_PGACTIVATE, EV_PGDEACTIVATE, EV_PGREFILL } from "./events.ts";
import { PageList, type PageTable } from "./page-table.ts";

/** PG_referenced (include/linux/page-flags.h), in PageTable.flags beside PG_RECLAIM (1). */
export const PG_REFERENCED = 2;
/** PG_active: the page is on the active list. */
export const PG_ACTIVE = 4;

/**
 * A page-cache page with no file index: written by writeFile's append-only stream. Mappings are
 * stored as address-space id + 1, so that the zeroed array needs no initialising pass.
 */
const NO_MAPPING = 0;
/** mapping and index before the first page is cached. */
const NO_PAGES = new Int32Array(0);

export class FileLru {
  readonly inactive: PageList;
  readonly active: PageList;
  /** page->mapping as an address-space id + 1 (addressSpace), NO_MAPPING for anonymous streams. */
  private mapping = NO_PAGES;
  /** page->index within its address space. */
  private index = NO_PAGES;
  /**
   * Each address space's radix tree, reduced to an array of pfn + 1 by page index (0: not cached,
   * so that a new address space of many pages needs no initialising pass).
   */
  private readonly spaces: Int32Array[] = [];
  /** Pages cached of each address space (nrpages). */
  private readonly nrpages: number[] = [];

  constructor(
    private readonly pt: PageTable,
    private readonly nPages: number,
    private readonly ev: Float64Array,
  ) {
    this.inactive = new PageList("inactive file LRU", nPages);
    this.active = new PageList("active file LRU", nPages);
  }

  /** Pages on both file lists: zone_reclaimable_pages without swap. */
  get size(): number {
    return this.inactive.size + this.active.size;
  }

  /** A new address space (an inode's i_mapping) of `pages` pages; returns its id. */
  addressSpace(pages: number): number {
    if (!Number.isSafeInteger(pages) || pages <= 0)
      throw new ModelError(`address space needs a positive page count, got ${pages}`);
    this.spaces.push(new Int32Array(pages));
    this.nrpages.push(0);
    return this.spaces.length - 1;
  }

  /** find_get_page: the pfn caching page `index` of address space `as`, or -1. */
  findPage(as: number, index: number): number {
    const space = this.spaces[as];
    if (space === undefined || index < 0 || index >= space.length)
      throw new ModelError(`no page ${index} in address space ${as}`);
    return space[index]! - 1;
  }

  /** add_to_page_cache_lru: `pfn` caches page `index` of `as` and goes to the inactive head. */
  addToPageCache(pfn: number, as: number, index: number): void {
    if (this.findPage(as, index) >= 0)
      throw new ModelError(`page ${index} of address space ${as} is cached already`);
    this.spaces[as]![index] = pfn + 1;
    this.nrpages[as]!++;
    this.addHead(pfn);
    this.mapping[pfn] = as + 1;
    this.index[pfn] = index;
  }

  /** lru_cache_add_file: the inactive head, PG_active and PG_referenced clear. */
  addHead(pfn: number): void {
    // mapping and index are allocated with the first page cached (see PageList).
    if (this.mapping === NO_PAGES) {
      this.mapping = new Int32Array(this.nPages);
      this.index = new Int32Array(this.nPages);
    }
    this.pt.flags[pfn]! &= ~(PG_ACTIVE | PG_REFERENCED);
    this.inactive.addHead(pfn);
  }

  /** Off its list and out of its file (__delete_from_page_cache), before the page is freed. */
  remove(pfn: number): void {
    if ((this.pt.flags[pfn]! & PG_ACTIVE) !== 0) this.active.remove(pfn);
    else this.inactive.remove(pfn);
    const m = this.mapping[pfn]!;
    if (m !== NO_MAPPING) {
      const as = m - 1;
      this.spaces[as]![this.index[pfn]!] = 0;
      this.nrpages[as]!--;
      this.mapping[pfn] = NO_MAPPING;
    }
  }

  /**
   * rotate_reclaimable_page at the end of writeback of a page reclaim met dirty: to the inactive tail
   * unless it was activated meanwhile. Returns whether it moved (pgrotated).
   */
  moveToTail(pfn: number): boolean {
    if ((this.pt.flags[pfn]! & PG_ACTIVE) !== 0) return false;
    this.inactive.moveToTail(pfn);
    return true;
  }

  /** mark_page_accessed (mm/swap.c, v3.2). */
  markPageAccessed(pfn: number): void {
    const flags = this.pt.flags;
    const f = flags[pfn]!;
    if ((f & PG_ACTIVE) === 0 && (f & PG_REFERENCED) !== 0) {
      this.activatePage(pfn);
      flags[pfn]! &= ~PG_REFERENCED;
    } else if ((f & PG_REFERENCED) === 0) {
      flags[pfn]! |= PG_REFERENCED;
    }
  }

  /** __activate_page: inactive → active head, PG_active set, pgactivate. */
  private activatePage(pfn: number): void {
    this.inactive.remove(pfn);
    this.pt.flags[pfn]! |= PG_ACTIVE;
    this.active.addHead(pfn);
    this.ev[EV_PGACTIVATE]!++;
  }

  /** TestClearPageReferenced, as page_check_references calls it. */
  testClearReferenced(pfn: number): boolean {
    const f = this.pt.flags[pfn]!;
    this.pt.flags[pfn] = f & ~PG_REFERENCED;
    return (f & PG_REFERENCED) !== 0;
  }

  /** inactive_file_is_low_global: more active than inactive file pages. */
  inactiveIsLow(): boolean {
    return this.active.size > this.inactive.size;
  }

  /**
   * shrink_active_list for the file lists: up to `nr` pages from the active tail to the inactive
   * head, PG_active cleared (PG_referenced stays as it is: page_referenced only looks at ptes).
   * Returns the pages scanned (pgrefill), which the caller adds to zone->pages_scanned.
   */
  shrinkActiveList(nr: number): number {
    const n = Math.min(nr, this.active.size);
    const flags = this.pt.flags;
    for (let i = 0; i < n; i++) {
      const p = this.active.tail;
      this.active.remove(p);
      flags[p]! &= ~PG_ACTIVE;
      this.inactive.addHead(p);
    }
    this.ev[EV_PGREFILL]! += n;
    this.ev[EV_PGDEACTIVATE]! += n;
    return n;
  }

  /**
   * Both lists' links and membership (`member`), PG_active exactly on the active list, and each
   * file's index holding exactly its pages on the lists (each listed page where its index says,
   * as many as nrpages); returns the pages on both lists.
   */
  check(member: (pfn: number) => boolean, seen: Uint8Array): number {
    const flags = this.pt.flags;
    const counted = this.nrpages.map(() => 0);
    const mapped = (p: number): boolean => {
      const m = this.mapping[p]!;
      if (m === NO_MAPPING) return true;
      const as = m - 1;
      counted[as]!++;
      return this.spaces[as]![this.index[p]!] === p + 1;
    };
    const n =
      this.inactive.check((p) => member(p) && (flags[p]! & PG_ACTIVE) === 0 && mapped(p), seen) +
      this.active.check((p) => member(p) && (flags[p]! & PG_ACTIVE) !== 0 && mapped(p), seen);
    counted.forEach((c, as) => {
      if (c !== this.nrpages[as])
        throw new ModelError(`address space ${as}: ${this.nrpages[as]} pages cached but ${c} on the LRU`);
    });
    return n;
  }
}
