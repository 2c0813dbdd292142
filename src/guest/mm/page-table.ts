/**
 * Page ownership: every page frame (pfn 0..N-1) has exactly one owner code at every event, with
 * per-owner counts kept incrementally, a LIFO stack of the buddy allocator's free pfns (pages on the
 * per-cpu lists are owned by OWNER_PCP, see pcp.ts) and doubly linked page lists on typed arrays
 * (the LRU and the dirty list).
 */
import { ModelError } from "../../sim/simulator.ts";

export const OWNER_FREE = 0;
/** Boot-time kernel memory: image, page tables, hash tables, per-cpu areas. Never freed. */
export const OWNER_KERNEL_RESERVED = 1;
/** A slab page of one of the kmem caches (slab.ts). */
export const OWNER_SLAB = 2;
export const OWNER_PAGECACHE_CLEAN = 3;
export const OWNER_PAGECACHE_DIRTY = 4;
export const OWNER_PAGECACHE_WRITEBACK = 5;
/** Anonymous memory of a registered task (not reclaimable: no swap). */
export const OWNER_ANON = 6;
/** virtio_net's private page list (vi->pages, give_pages/get_a_page). */
export const OWNER_DRIVER_LIST = 7;
/** In a buffer posted to the rx ring. */
export const OWNER_RX_RING = 8;
/** Attached to an skb in the stack or a socket queue. */
export const OWNER_SKB = 9;
/** A page_frag cache page (skb_page_frag_refill, later kernels). */
export const OWNER_PAGE_FRAG = 10;
/** Free on a per-cpu page list (pcp.ts): free, but not a buddy page and not in NR_FREE_PAGES. */
export const OWNER_PCP = 11;
/**
 * In the swap cache (swap.ts): unmapped and on the anon LRU, being written out (PG_writeback) or
 * written and waiting for reclaim to free it; or being read in (off the LRU).
 */
export const OWNER_SWAPCACHE = 12;
/** Owner codes are indices below OWNER_COUNT; a new owner takes the next code and a name below. */
export const OWNER_COUNT = 13;

export const OWNER_NAMES: readonly string[] = [
  "free",
  "kernel_reserved",
  "slab",
  "pagecache_clean",
  "pagecache_dirty",
  "pagecache_writeback",
  "anon",
  "driver_list",
  "rx_ring",
  "skb",
  "page_frag",
  "pcp",
  "swapcache",
];

/**
 * Owners that code outside mm allocates (allocPage*), moves (setOwner) and frees (freePage). Page
 * cache, anon and slab pages change hands only inside mm, where their lists and accounting live.
 */
export const EXTERNAL_OWNER: Uint8Array = (() => {
  const t = new Uint8Array(OWNER_COUNT);
  for (const o of [OWNER_KERNEL_RESERVED, OWNER_DRIVER_LIST, OWNER_RX_RING, OWNER_SKB, OWNER_PAGE_FRAG])
    t[o] = 1;
  return t;
})();

export function ownerName(o: number): string {
  return OWNER_NAMES[o] ?? `owner${o}`;
}

/** Page flag bits (PageTable.flags): PG_reclaim, set on dirty pages reclaim met (SetPageReclaim). */
export const PG_RECLAIM = 1;
/** PG_writeback of a swap cache page (page-cache writeback has its own owner); lru.ts has 2 and 4. */
export const PG_WRITEBACK = 8;

const NOT_ON_LIST = -2;
const END = -1;

/** A doubly linked list of pfns on typed arrays, with O(1) insertion at either end and removal. */
export class PageList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  head = END;
  tail = END;
  size = 0;

  constructor(
    readonly name: string,
    nPages: number,
  ) {
    this.next = new Int32Array(nPages).fill(NOT_ON_LIST);
    this.prev = new Int32Array(nPages).fill(NOT_ON_LIST);
  }

  has(pfn: number): boolean {
    return this.next[pfn] !== NOT_ON_LIST;
  }

  addHead(pfn: number): void {
    if (this.has(pfn)) throw new ModelError(`${this.name}: pfn ${pfn} added twice`);
    this.prev[pfn] = END;
    this.next[pfn] = this.head;
    if (this.head === END) this.tail = pfn;
    else this.prev[this.head] = pfn;
    this.head = pfn;
    this.size++;
  }

  addTail(pfn: number): void {
    if (this.has(pfn)) throw new ModelError(`${this.name}: pfn ${pfn} added twice`);
    this.next[pfn] = END;
    this.prev[pfn] = this.tail;
    if (this.tail === END) this.head = pfn;
    else this.next[this.tail] = pfn;
    this.tail = pfn;
    this.size++;
  }

  remove(pfn: number): void {
    const n = this.next[pfn]!;
    if (n === NOT_ON_LIST) throw new ModelError(`${this.name}: pfn ${pfn} is not on the list`);
    const p = this.prev[pfn]!;
    if (p === END) this.head = n;
    else this.next[p] = n;
    if (n === END) this.tail = p;
    else this.prev[n] = p;
    this.next[pfn] = NOT_ON_LIST;
    this.prev[pfn] = NOT_ON_LIST;
    this.size--;
  }

  moveToHead(pfn: number): void {
    if (this.head === pfn) return;
    this.remove(pfn);
    this.addHead(pfn);
  }

  moveToTail(pfn: number): void {
    if (this.tail === pfn) return;
    this.remove(pfn);
    this.addTail(pfn);
  }

  /**
   * Walks the list from head to tail checking the links, that no pfn appears twice and that every
   * member satisfies `member`; returns the number of members. Marks members in `seen`.
   */
  check(member: (pfn: number) => boolean, seen: Uint8Array): number {
    let count = 0;
    let prev = END;
    for (let p = this.head; p !== END; p = this.next[p]!) {
      if (p < 0 || p >= this.next.length) throw new ModelError(`${this.name}: link to invalid pfn ${p}`);
      if (seen[p] !== 0) throw new ModelError(`${this.name}: pfn ${p} appears twice (or a cycle)`);
      if (this.prev[p] !== prev) throw new ModelError(`${this.name}: pfn ${p} has a broken back link`);
      if (!member(p)) throw new ModelError(`${this.name}: pfn ${p} does not belong on this list`);
      seen[p] = 1;
      prev = p;
      count++;
    }
    if (prev !== this.tail)
      throw new ModelError(`${this.name}: tail ${this.tail} is not the last member ${prev}`);
    if (count !== this.size) throw new ModelError(`${this.name}: size ${this.size} but ${count} members`);
    return count;
  }
}

/** The owner array, per-owner counts, page flags and the free stack. */
export class PageTable {
  readonly owner: Uint8Array;
  readonly flags: Uint8Array;
  readonly counts = new Int32Array(OWNER_COUNT);
  readonly freeStack: Int32Array;
  freeTop = 0;

  constructor(
    readonly nPages: number,
    reservedPages: number,
  ) {
    if (!Number.isSafeInteger(nPages) || nPages < 1)
      throw new ModelError(`need at least one page, got ${nPages}`);
    if (!Number.isSafeInteger(reservedPages) || reservedPages < 0 || reservedPages > nPages) {
      throw new ModelError(`kernel reserved pages must be in [0, ${nPages}], got ${reservedPages}`);
    }
    this.owner = new Uint8Array(nPages);
    this.flags = new Uint8Array(nPages);
    this.freeStack = new Int32Array(nPages);
    this.owner.fill(OWNER_KERNEL_RESERVED, 0, reservedPages);
    this.counts[OWNER_KERNEL_RESERVED] = reservedPages;
    // Highest pfn at the bottom of the stack, so allocation starts at the lowest free pfn.
    for (let p = nPages - 1; p >= reservedPages; p--) this.freeStack[this.freeTop++] = p;
    this.counts[OWNER_FREE] = this.freeTop;
  }

  get nrFree(): number {
    return this.freeTop;
  }

  /** Pops a free page for `owner`; the caller has checked the watermark (free ≥ 3 pages). */
  take(owner: number): number {
    const pfn = this.freeStack[--this.freeTop]!;
    this.owner[pfn] = owner;
    this.counts[owner]!++;
    this.counts[OWNER_FREE]!--;
    return pfn;
  }

  /** Returns a page whose owner the caller has checked to the free stack. */
  release(pfn: number, owner: number): void {
    this.counts[owner]!--;
    this.counts[OWNER_FREE]!++;
    this.owner[pfn] = OWNER_FREE;
    this.flags[pfn] = 0;
    this.freeStack[this.freeTop++] = pfn;
  }

  /** Moves a page between owners, asserting where it was. */
  move(pfn: number, from: number, to: number): void {
    const o = this.owner[pfn];
    if (o !== from) {
      throw new ModelError(
        `pfn ${pfn}: expected owner ${ownerName(from)}, found ${o === undefined ? "no such page" : ownerName(o)}`,
      );
    }
    this.owner[pfn] = to;
    this.counts[from]!--;
    this.counts[to]!++;
  }

  /** Counts against a recount, and the free stack against the FREE pages. */
  check(): void {
    const recount = new Int32Array(OWNER_COUNT);
    for (let p = 0; p < this.nPages; p++) {
      const o = this.owner[p]!;
      if (o >= OWNER_COUNT) throw new ModelError(`pfn ${p}: invalid owner code ${o}`);
      recount[o]!++;
    }
    let sum = 0;
    for (let o = 0; o < OWNER_COUNT; o++) {
      if (recount[o] !== this.counts[o]) {
        throw new ModelError(`owner ${ownerName(o)}: count ${this.counts[o]} but ${recount[o]} pages`);
      }
      sum += this.counts[o]!;
    }
    if (sum !== this.nPages) throw new ModelError(`owner counts sum to ${sum}, not ${this.nPages} pages`);
    if (this.freeTop !== this.counts[OWNER_FREE]) {
      throw new ModelError(`free stack holds ${this.freeTop} pages but ${this.counts[OWNER_FREE]} are free`);
    }
    const seen = new Uint8Array(this.nPages);
    for (let i = 0; i < this.freeTop; i++) {
      const p = this.freeStack[i]!;
      if (this.owner[p] !== OWNER_FREE) {
        throw new ModelError(`free stack holds pfn ${p} owned by ${ownerName(this.owner[p]!)}`);
      }
      if (seen[p] !== 0) throw new ModelError(`free stack holds pfn ${p} twice`);
      seen[p] = 1;
    }
  }
}
