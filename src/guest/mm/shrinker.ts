/**
 * Shrinkers (include/linux/shrinker.h; mm/vmscan.c shrink_slab → do_shrink_slab, 6.1): caches
 * outside the LRU that reclaim asks to give memory back. Each priority pass of reclaim calls
 * every shrinker's count_objects, scans a share of the count that grows as the priority falls,
 * in batches, through scan_objects, and defers what it did not scan to the next call.
 *
 * The 6.1 arithmetic (since 5.13's "mm: vmscan: simplify nr_deferred update code"):
 *   delta = seeks ? (freeable >> priority) * 4 / seeks : freeable / 2;
 *   total_scan = min((nr_deferred >> priority) + delta, 2 * freeable);
 *   while (total_scan >= batch || total_scan >= freeable) scan min(batch, total_scan);
 *   nr_deferred = min(max(nr + delta - scanned, 0), 2 * freeable).
 * So a DEFAULT_SEEKS shrinker with fewer than 4096 objects is not scanned at DEF_PRIORITY: only
 * reclaim that is struggling (priority ≤ log2(freeable)) takes them.
 */

/** DEFAULT_SEEKS (include/linux/shrinker.h): the cost of recreating an object, in seeks. */
export const DEFAULT_SEEKS = 2;
/** SHRINK_BATCH (mm/vmscan.c): objects per scan_objects call when the shrinker sets no batch. */
export const SHRINK_BATCH = 128;

/** struct shrinker's callbacks and seeks (batch 0: SHRINK_BATCH). */
export interface Shrinker {
  readonly name: string;
  readonly seeks: number;
  /** count_objects: objects that could be freed now. */
  countObjects(): number;
  /** scan_objects: frees up to `nrToScan` objects and returns how many it freed. Must not sleep. */
  scanObjects(nrToScan: number): number;
}

/** The registered shrinkers (shrinker_list) with their nr_deferred and what each freed. */
export class ShrinkerList {
  private readonly list: Shrinker[] = [];
  private readonly nrDeferred: number[] = [];
  /** Objects freed through each shrinker, in registration order. */
  readonly freed: number[] = [];

  /** register_shrinker. */
  register(s: Shrinker): void {
    this.list.push(s);
    this.nrDeferred.push(0);
    this.freed.push(0);
  }

  get size(): number {
    return this.list.length;
  }

  /** shrink_slab at `priority`: do_shrink_slab for each shrinker; the objects freed. */
  shrink(priority: number): number {
    let freed = 0;
    for (let i = 0; i < this.list.length; i++) freed += this.doShrinkSlab(i, priority);
    return freed;
  }

  private doShrinkSlab(i: number, priority: number): number {
    const s = this.list[i]!;
    const freeable = s.countObjects();
    if (freeable === 0) return 0;
    const nr = this.nrDeferred[i]!;
    this.nrDeferred[i] = 0;
    const delta =
      s.seeks !== 0 ? Math.floor(((freeable >>> priority) * 4) / s.seeks) : Math.floor(freeable / 2);
    let totalScan = Math.min((nr >>> priority) + delta, 2 * freeable);
    let freed = 0;
    let scanned = 0;
    while (totalScan >= SHRINK_BATCH || totalScan >= freeable) {
      const nrToScan = Math.min(SHRINK_BATCH, totalScan);
      freed += s.scanObjects(nrToScan);
      totalScan -= nrToScan;
      scanned += nrToScan;
    }
    this.nrDeferred[i] = Math.min(Math.max(nr + delta - scanned, 0), 2 * freeable);
    this.freed[i]! += freed;
    return freed;
  }
}
