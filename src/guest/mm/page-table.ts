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

const END = -1;
/**
 * A link is stored plus LINK_BIAS, so that a zeroed array means "on no list" (stored 0) and a
 * list needs no initialising pass over every page; END is stored as 1.
 */
const LINK_BIAS = 2;

/** The links of a list that never had a member (allocated at the first insertion). */
const NO_LINKS = new Int32Array(0);

/**
 * A doubly linked list of pfns on typed arrays, with O(1) insertion at either end and removal. Its
 * per-page arrays are allocated when the first page is added: many lists (the file LRU, the dirty
 * list) stay empty in a run without page cache, and a guest of many GiB builds faster without them.
 */
export class PageList {
  /** The biased links (LINK_BIAS): 0 off the list, END + LINK_BIAS at an end. */
  private nextB = NO_LINKS;
  private prevB = NO_LINKS;
  head = END;
  tail = END;
  size = 0;

  constructor(
    readonly name: string,
    readonly nPages: number,
  ) {}

  has(pfn: number): boolean {
    // An empty list has no member, and may have no links yet.
    return this.size !== 0 && this.nextB[pfn] !== 0;
  }

  /** The member after `pfn` towards the tail, -1 after the tail. */
  next(pfn: number): number {
    return this.nextB[pfn]! - LINK_BIAS;
  }

  addHead(pfn: number): void {
    if (this.has(pfn)) throw new ModelError(`${this.name}: pfn ${pfn} added twice`);
    if (this.nextB === NO_LINKS) this.allocateLinks();
    this.prevB[pfn] = END + LINK_BIAS;
    this.nextB[pfn] = this.head + LINK_BIAS;
    if (this.head === END) this.tail = pfn;
    else this.prevB[this.head] = pfn + LINK_BIAS;
    this.head = pfn;
    this.size++;
  }

  addTail(pfn: number): void {
    if (this.has(pfn)) throw new ModelError(`${this.name}: pfn ${pfn} added twice`);
    if (this.nextB === NO_LINKS) this.allocateLinks();
    this.nextB[pfn] = END + LINK_BIAS;
    this.prevB[pfn] = this.tail + LINK_BIAS;
    if (this.tail === END) this.head = pfn;
    else this.nextB[this.tail] = pfn + LINK_BIAS;
    this.tail = pfn;
    this.size++;
  }

  remove(pfn: number): void {
    if (!this.has(pfn)) throw new ModelError(`${this.name}: pfn ${pfn} is not on the list`);
    const nb = this.nextB[pfn]!;
    const n = nb - LINK_BIAS;
    const p = this.prevB[pfn]! - LINK_BIAS;
    if (p === END) this.head = n;
    else this.nextB[p] = nb;
    if (n === END) this.tail = p;
    else this.prevB[n] = p + LINK_BIAS;
    this.nextB[pfn] = 0;
    this.prevB[pfn] = 0;
    this.size--;
  }

  private allocateLinks(): void {
    this.nextB = new Int32Array(this.nPages);
    this.prevB = new Int32Array(this.nPages);
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
    for (let p = this.head; p !== END; p = this.next(p)) {
      if (p < 0 || p >= this.nPages) throw new ModelError(`${this.name}: link to invalid pfn ${p}`);
      if (seen[p] !== 0) throw new ModelError(`${this.name}: pfn ${p} appears twice (or a cycle)`);
      if (this.prevB[p]! - LINK_BIAS !== prev)
        throw new ModelError(`${this.name}: pfn ${p} has a broken back link`);
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
  /**
   * The buddy allocator's free pfns, a LIFO stack of freeTop entries. At boot position i holds pfn
   * nPages - 1 - i (the lowest free pfn on top); positions below bootTop still hold their boot pfn
   * implicitly, so that building a large guest writes nothing per page.
   */
  private readonly freeStack: Int32Array;
  freeTop = 0;
  private bootTop: number;

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
    this.freeTop = nPages - reservedPages;
    this.bootTop = this.freeTop;
    this.counts[OWNER_FREE] = this.freeTop;
  }

  get nrFree(): number {
    return this.freeTop;
  }

  /** Pops a free page for `owner`; the caller has checked the watermark (free ≥ 3 pages). */
  take(owner: number): number {
    const i = --this.freeTop;
    let pfn: number;
    if (i < this.bootTop) {
      pfn = this.nPages - 1 - i;
      this.bootTop = i;
    } else pfn = this.freeStack[i]!;
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
      const p = i < this.bootTop ? this.nPages - 1 - i : this.freeStack[i]!;
      if (this.owner[p] !== OWNER_FREE) {
        throw new ModelError(`free stack holds pfn ${p} owned by ${ownerName(this.owner[p]!)}`);
      }
      if (seen[p] !== 0) throw new ModelError(`free stack holds pfn ${p} twice`);
      seen[p] = 1;
    }
  }
}
