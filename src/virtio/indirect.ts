/**
 * Where the driver gets indirect descriptor tables. Linux v3.2 vring_add_indirect kmallocs
 * (out + in) * 16 bytes with the caller's gfp and falls back to direct descriptors when that fails;
 * this interface stands in for that kmalloc/kfree pair. Tables must really live in guest memory (the
 * device reads them), so offsets point into the same ArrayBuffer as the ring.
 */
import { VirtqueueError } from "./errors.ts";
import { DESC_SIZE } from "./layout.ts";

export interface IndirectTableAllocator {
  /** Guest offset of a 16 * entries byte table, or -1 when the allocation fails (kmalloc(gfp) failure). */
  alloc(entries: number): number;
  /** Returns a table obtained from alloc (kfree in detach_buf). */
  free(offset: number): void;
}

/** Bytes an IndirectPool of `blocks` tables of `entries` descriptors occupies. */
export function indirectPoolBytes(blocks: number, entries: number): number {
  return blocks * entries * DESC_SIZE;
}

/**
 * A fixed region of guest memory cut into equal blocks, each one table of up to `entriesPerBlock`
 * descriptors; a LIFO free stack like a slab's per-cpu freelist. Failure is injectable: while
 * `failing` is set every alloc returns -1, as kmalloc(GFP_ATOMIC) does under memory pressure; an
 * exhausted pool also returns -1.
 */
export class IndirectPool implements IndirectTableAllocator {
  readonly offset: number;
  readonly blocks: number;
  readonly entriesPerBlock: number;
  /** When true, alloc fails (models kmalloc returning NULL). */
  failing = false;
  /** Allocations that returned -1, injected or from exhaustion. */
  failures = 0;
  private readonly blockBytes: number;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private readonly allocated: Uint8Array;

  constructor(memoryBytes: number, offset: number, blocks: number, entriesPerBlock: number) {
    if (
      !(Number.isInteger(blocks) && blocks >= 1 && Number.isInteger(entriesPerBlock) && entriesPerBlock >= 1)
    ) {
      throw new VirtqueueError(
        "invalid-argument",
        `indirect pool needs >= 1 block of >= 1 entry, got ${blocks} x ${entriesPerBlock}`,
      );
    }
    const bytes = indirectPoolBytes(blocks, entriesPerBlock);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + bytes > memoryBytes) {
      throw new VirtqueueError(
        "invalid-argument",
        `indirect pool [${offset}, ${offset + bytes}) lies outside guest memory of ${memoryBytes} bytes`,
      );
    }
    this.offset = offset;
    this.blocks = blocks;
    this.entriesPerBlock = entriesPerBlock;
    this.blockBytes = entriesPerBlock * DESC_SIZE;
    this.freeStack = new Int32Array(blocks);
    // Lowest block on top, so the first allocations come from the start of the region.
    for (let i = 0; i < blocks; i++) this.freeStack[i] = blocks - 1 - i;
    this.freeTop = blocks;
    this.allocated = new Uint8Array(blocks);
  }

  /** Tables currently handed out. */
  get inUse(): number {
    return this.blocks - this.freeTop;
  }

  alloc(entries: number): number {
    const block = this.allocBlock(entries);
    return block < 0 ? -1 : this.tableAt(block);
  }

  /** Guest offset of block `block`'s table. */
  tableAt(block: number): number {
    return this.offset + block * this.blockBytes;
  }

  /** alloc by block index (-1 on failure), for callers that keep side tables by block. */
  allocBlock(entries: number): number {
    if (!(Number.isInteger(entries) && entries >= 1 && entries <= this.entriesPerBlock)) {
      // A caller that needs bigger tables configured the pool wrongly; that is not memory pressure.
      throw new VirtqueueError(
        "invalid-argument",
        `indirect table of ${entries} entries requested from a pool of ${this.entriesPerBlock}-entry blocks`,
      );
    }
    if (this.failing || this.freeTop === 0) {
      this.failures++;
      return -1;
    }
    const block = this.freeStack[--this.freeTop]!;
    this.allocated[block] = 1;
    return block;
  }

  /** Returns the table at `offset` to the pool; the result is its block index (for side tables by block). */
  free(offset: number): number {
    const rel = offset - this.offset;
    // An int32 block index (the product test rejects fractions, NaN and wrapped huge values).
    const block = (rel / this.blockBytes) | 0;
    if (block * this.blockBytes !== rel || block < 0 || block >= this.blocks || this.allocated[block] !== 1) {
      throw new VirtqueueError(
        "invalid-argument",
        `indirect table at ${offset} was not allocated from this pool`,
      );
    }
    this.allocated[block] = 0;
    this.freeStack[this.freeTop++] = block;
    return block;
  }
}
