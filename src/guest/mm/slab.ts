/**
 * A kmem cache reduced to what accounting needs (mm/slub.c, v3.2): order-0 slabs, a freelist per
 * slab, a partial list, and empty slabs kept while the cache has at most min_partial partial slabs.
 *
 * Order 0 for every slab: SLUB's allocate_slab first tries the cache's preferred order (order 3 for
 * kmalloc-2048 on SMP) with __GFP_NORETRY|__GFP_NOWARN and falls back to s->min, the smallest order
 * holding one object, with the caller's gfp. Under memory pressure the high-order attempt fails, so
 * the allocation that decides success is the order-0 one modelled here. Not modelled: the per-cpu
 * slab (it is just another partial slab here) and cache merging (skbuff_head_cache stays separate
 * from kmalloc-256).
 *
 * Objects are integers: slabIndex * objsPerSlab + slot, slab indices being recycled per cache.
 */
import { ModelError } from "../../sim/simulator.ts";
import { OWNER_SLAB } from "./page-table.ts";
import { PAGE_SIZE } from "./watermarks.ts";
import { grown } from "../../sim/typed.ts";

/** MIN_PARTIAL / MAX_PARTIAL (mm/slub.c). */
export const MIN_PARTIAL = 5;
export const MAX_PARTIAL = 10;

/** kmem_cache_open: set_min_partial(s, ilog2(s->size)) clamped to [MIN_PARTIAL, MAX_PARTIAL] (v3.2). */
export function slubMinPartial(objSize: number): number {
  return Math.min(MAX_PARTIAL, Math.max(MIN_PARTIAL, Math.floor(Math.log2(objSize))));
}

const NONE = -1;
/** objNext of an allocated object: it is on no freelist. */
const LIVE = -2;

export class KmemCache {
  readonly objsPerSlab: number;
  readonly minPartial: number;
  /** Per slab index: its page, objects in use, first free object, partial-list links. */
  private slabPfn = new Int32Array(4);
  private slabInuse = new Int32Array(4);
  private slabFree = new Int32Array(4);
  private partNext = new Int32Array(4);
  private partPrev = new Int32Array(4);
  private onPartial = new Uint8Array(4);
  /**
   * Per object: the next free object in its slab (NONE at the end, LIVE while allocated), and its
   * slab index (floor(obj / objsPerSlab), kept so that a free does not divide).
   */
  private objNext: Int32Array;
  private objSlab: Int32Array;
  private readonly spareSlabs: number[] = [];
  private slabIndices = 0;
  private partialHead = NONE;
  private partialTail = NONE;
  nrPartial = 0;
  /** Slabs (= pages) held, and objects in use: /proc/slabinfo's num_slabs and active_objs. */
  nrSlabs = 0;
  inuse = 0;
  /** Counters: slabs taken from and returned to the page allocator, failed allocations. */
  slabsAllocated = 0;
  slabsFreed = 0;
  allocFailures = 0;

  constructor(
    readonly name: string,
    readonly objSize: number,
  ) {
    if (!Number.isInteger(objSize) || objSize < 1 || objSize > PAGE_SIZE) {
      throw new ModelError(`${name}: object size ${objSize} does not fit an order-0 slab`);
    }
    this.objsPerSlab = Math.floor(PAGE_SIZE / objSize);
    this.minPartial = slubMinPartial(objSize);
    this.objNext = new Int32Array(4 * this.objsPerSlab);
    this.objSlab = new Int32Array(4 * this.objsPerSlab);
    this.setObjSlabs(0, 4);
  }

  /** Pops a free object from the first partial slab; -1 when a new slab is needed. */
  alloc(): number {
    const s = this.partialHead;
    if (s === NONE) return NONE;
    const obj = this.slabFree[s]!;
    const next = this.objNext[obj]!;
    this.slabFree[s] = next;
    this.objNext[obj] = LIVE;
    this.slabInuse[s]!++;
    this.inuse++;
    if (next === NONE) this.unlinkPartial(s);
    return obj;
  }

  /**
   * new_slab on page `pfn` and its first object, as __slab_alloc takes it after new_slab: the
   * slab joins the head of the partial list only while it has objects left (a one-object slab,
   * kmalloc-4096's, is full at once and never passes through the list).
   */
  allocFromNewSlab(pfn: number): number {
    const s = this.spareSlabs.length > 0 ? this.spareSlabs.pop()! : this.newSlabIndex();
    this.slabPfn[s] = pfn;
    this.slabInuse[s] = 1;
    const base = s * this.objsPerSlab;
    const last = base + this.objsPerSlab - 1;
    for (let o = base + 1; o < last; o++) this.objNext[o] = o + 1;
    this.objNext[last] = NONE;
    this.objNext[base] = LIVE;
    this.nrSlabs++;
    this.slabsAllocated++;
    this.inuse++;
    if (last === base) {
      this.slabFree[s] = NONE;
      return base;
    }
    this.slabFree[s] = base + 1;
    this.linkPartial(s, true);
    return base;
  }

  /**
   * Frees an object (__slab_free). A full slab becomes partial (at the tail); an empty slab is
   * discarded when more than min_partial slabs are partial. Returns the pfn to give back to the
   * page allocator, or -1.
   */
  free(obj: number): number {
    // Only an allocated object is LIVE: any other number (out of range, not an integer, free, in a
    // slab never carved) reads another value or undefined.
    if (this.objNext[obj] !== LIVE) {
      throw new ModelError(`${this.name}: free of object ${obj} that is not allocated`);
    }
    const s = this.objSlab[obj]!;
    this.objNext[obj] = this.slabFree[s]!;
    this.slabFree[s] = obj;
    const inuse = this.slabInuse[s]! - 1;
    this.slabInuse[s] = inuse;
    this.inuse--;
    if (this.onPartial[s] === 0) {
      // A full slab: partial again, at the tail. Holding one object it is empty at once, and
      // discarded without passing through the list when min_partial slabs are partial already.
      if (inuse === 0 && this.nrPartial >= this.minPartial) return this.discard(s);
      this.linkPartial(s, false);
    } else if (inuse === 0 && this.nrPartial > this.minPartial) {
      this.unlinkPartial(s);
      return this.discard(s);
    }
    return NONE;
  }

  /** discard_slab of empty slab `s`, off the partial list: its page for the page allocator. */
  private discard(s: number): number {
    this.spareSlabs.push(s);
    this.nrSlabs--;
    this.slabsFreed++;
    return this.slabPfn[s]!;
  }

  /** Checks in-use counts, freelists and the partial list against the page owners. */
  check(owner: Uint8Array): void {
    const spare = new Uint8Array(this.slabIndices);
    for (const s of this.spareSlabs) spare[s] = 1;
    let slabs = 0;
    let inuse = 0;
    let partial = 0;
    for (let s = 0; s < this.slabIndices; s++) {
      if (spare[s] === 1) continue;
      slabs++;
      const pfn = this.slabPfn[s]!;
      if (owner[pfn] !== OWNER_SLAB)
        throw new ModelError(`${this.name}: slab page ${pfn} is not owned by slab`);
      let free = 0;
      for (let o = this.slabFree[s]!; o !== NONE; o = this.objNext[o]!) {
        if (Math.floor(o / this.objsPerSlab) !== s || ++free > this.objsPerSlab) {
          throw new ModelError(`${this.name}: slab ${s} has a corrupt freelist`);
        }
      }
      const used = this.slabInuse[s]!;
      if (used + free !== this.objsPerSlab || used < 0) {
        throw new ModelError(
          `${this.name}: slab ${s} has ${used} in use and ${free} free of ${this.objsPerSlab}`,
        );
      }
      if (free > 0 !== (this.onPartial[s] === 1)) {
        throw new ModelError(
          `${this.name}: slab ${s} with ${free} free objects is wrongly on/off the partial list`,
        );
      }
      if (free > 0) partial++;
      inuse += used;
    }
    if (slabs !== this.nrSlabs || inuse !== this.inuse || partial !== this.nrPartial) {
      throw new ModelError(
        `${this.name}: counts say ${this.nrSlabs} slabs/${this.inuse} objects/${this.nrPartial} partial, ` +
          `found ${slabs}/${inuse}/${partial}`,
      );
    }
    if (this.inuse > this.nrSlabs * this.objsPerSlab) {
      throw new ModelError(
        `${this.name}: ${this.inuse} objects in use exceed the capacity of ${this.nrSlabs} slabs`,
      );
    }
  }

  /** Page frames of the live slabs (for the owner check). */
  slabPages(): number[] {
    const spare = new Set(this.spareSlabs);
    const out: number[] = [];
    for (let s = 0; s < this.slabIndices; s++) if (!spare.has(s)) out.push(this.slabPfn[s]!);
    return out;
  }

  private newSlabIndex(): number {
    const s = this.slabIndices++;
    if (s >= this.slabPfn.length) {
      const old = this.slabPfn.length;
      const n = old * 2;
      this.slabPfn = grown(this.slabPfn, n);
      this.slabInuse = grown(this.slabInuse, n);
      this.slabFree = grown(this.slabFree, n);
      this.partNext = grown(this.partNext, n);
      this.partPrev = grown(this.partPrev, n);
      this.onPartial = grown(this.onPartial, n);
      this.objNext = grown(this.objNext, n * this.objsPerSlab);
      this.objSlab = grown(this.objSlab, n * this.objsPerSlab);
      this.setObjSlabs(old, n);
    }
    return s;
  }

  /** objSlab of the objects of slab indices [from, to). */
  private setObjSlabs(from: number, to: number): void {
    for (let s = from; s < to; s++) this.objSlab.fill(s, s * this.objsPerSlab, (s + 1) * this.objsPerSlab);
  }

  private linkPartial(s: number, atHead: boolean): void {
    this.onPartial[s] = 1;
    this.nrPartial++;
    if (this.partialHead === NONE) {
      this.partNext[s] = NONE;
      this.partPrev[s] = NONE;
      this.partialHead = s;
      this.partialTail = s;
    } else if (atHead) {
      this.partPrev[s] = NONE;
      this.partNext[s] = this.partialHead;
      this.partPrev[this.partialHead] = s;
      this.partialHead = s;
    } else {
      this.partNext[s] = NONE;
      this.partPrev[s] = this.partialTail;
      this.partNext[this.partialTail] = s;
      this.partialTail = s;
    }
  }

  private unlinkPartial(s: number): void {
    const n = this.partNext[s]!;
    const p = this.partPrev[s]!;
    if (p === NONE) this.partialHead = n;
    else this.partNext[p] = n;
    if (n === NONE) this.partialTail = p;
    else this.partPrev[n] = p;
    this.onPartial[s] = 0;
    this.nrPartial--;
  }
}
