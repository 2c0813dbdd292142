/**
 * CPU cost of memory-management operations, in ns of vCPU time. These are documented assumptions
 * for a 2012 x86_64 guest (a few GHz, caches warm for the hot paths); a scenario may override any.
 * Allocation and freeing are charged to CAT_MM, scanning and freeing by reclaim to CAT_RECLAIM.
 */
import type { Ns } from "../../sim/time.ts";

export interface MmCosts {
  /** Order-0 allocation served by the per-cpu list (buffered_rmqueue, a zone_watermark_ok). */
  pageAllocFast: Ns;
  /** Entering __alloc_pages_slowpath once (wake_all_kswapd, zonelist rescan) and every retry. */
  pageAllocSlow: Ns;
  /** Freeing an order-0 page (free_hot_cold_page). */
  pageFree: Ns;
  /** One try_to_free_pages call apart from scanning: shrink_slab's walk of the shrinkers. */
  directReclaimEntry: Ns;
  /** drain_all_pages (direct reclaim's retry): on_each_cpu IPIs to every vCPU, waiting for them. */
  drainAllPages: Ns;
  /** Per page scanned by reclaim: isolate_lru_pages + the checks of shrink_page_list. */
  reclaimScanPage: Ns;
  /** Per page reclaimed: __remove_mapping (radix-tree delete under tree_lock) + free. */
  reclaimFreePage: Ns;
  /** kmem_cache_alloc / kmem_cache_free fast paths (per-cpu freelist). */
  slabAlloc: Ns;
  slabFree: Ns;
  /** generic_perform_write per page: copy 4 KiB from user space, page-cache insert, set dirty. */
  pageCacheWrite: Ns;
  /** An anonymous page fault: do_anonymous_page + clear_page. */
  anonFault: Ns;
  /** Per page sent to the disk by the flusher or kswapd (set_page_writeback, bio building). */
  writebackPage: Ns;
  /** Per page completed in the disk interrupt (end_page_writeback). */
  writebackEnd: Ns;
  /**
   * One warn_alloc_failed that prints: the "page allocation failure" line, dump_stack and
   * show_mem's show_free_areas, written out by the failing context (printk → console_unlock).
   */
  allocFailWarning: Ns;
  /** show_mem's walk over every page frame, per page; only for callers that may sleep. */
  showMemPerPage: Ns;
}

export const DEFAULT_MM_COSTS: MmCosts = {
  // Per-cpu list pop plus watermark check: a few dozen instructions and two cache misses.
  pageAllocFast: 100,
  // The slow path re-walks the zonelist and wakes kswapd; a couple of hundred cycles more.
  pageAllocSlow: 1_000,
  pageFree: 80,
  // shrink_slab walks the shrinker list: some µs.
  directReclaimEntry: 5_000,
  // An IPI in a 2012 KVM guest exits to the host on the sender's APIC write and on the target's
  // EOI (no posted interrupts or APICv yet): a few µs per round trip, waited for synchronously.
  drainAllPages: 5_000,
  // shrink_page_list locks the page and checks mapping/dirty/writeback state per page.
  reclaimScanPage: 200,
  reclaimFreePage: 300,
  slabAlloc: 50,
  slabFree: 50,
  // Copying 4 KiB at ~5 GB/s is ~0.8 µs; radix-tree insert and LRU add another ~0.7 µs.
  pageCacheWrite: 1_500,
  // Fault entry/exit (~1 µs) plus zeroing 4 KiB (~0.5 µs).
  anonFault: 1_500,
  writebackPage: 300,
  writebackEnd: 150,
  // About 4 KB of text: the warning line, dump_stack's ~25 frames (~1.5 KB) and show_free_areas'
  // per-zone lines and buddy counts (~2.5 KB), to a QEMU-emulated 16550 serial console, where
  // serial8250_console_write costs an LSR poll and a THR write, two port-I/O exits of ~3 µs, per
  // character: ~25 ms. A VGA or virtio console is faster; scenarios may override.
  allocFailWarning: 25_000_000,
  // page_count and flag tests per struct page, cache-missing: ~10 ns.
  showMemPerPage: 10,
};
