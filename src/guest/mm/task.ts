import type { WaitQueue } from "../sched/kernel.ts";

/** An anonPages entry for a page that is out on swap (its pte holds a swap entry, not a pfn). */
export const SWAPPED_OUT = -1;

/**
 * The anonPages entry for a page out on swap whose frame is still in the swap cache at `pfn`
 * (lookup_swap_cache finds it); swapCachedPfn inverts it. Every negative entry is a swap entry.
 */
export function swapCached(pfn: number): number {
  return -2 - pfn;
}

export function swapCachedPfn(entry: number): number {
  return -2 - entry;
}

/**
 * A user task as the memory model sees it: its anonymous memory (the OOM killer's measure), its
 * write position and balance_dirty_pages state (task_struct's nr_dirtied / nr_dirtied_pause).
 */
export class MmTask {
  /**
   * The task's anonymous footprint in fault order, most recent last: each entry the pfn mapping
   * that virtual page, SWAPPED_OUT, or swapCached(pfn).
   */
  readonly anonPages: number[] = [];
  /** Resident anonymous pages (MM_ANONPAGES, get_mm_rss). */
  anonRss = 0;
  /** Pages out on swap (MM_SWAPENTS). */
  swapents = 0;
  /** /proc/<pid>/oom_score_adj (signal->oom_score_adj), -1000..1000. */
  oomScoreAdj = 0;
  /** Set by the OOM killer; the task's allocations stop and its pages are gone. */
  killed = false;
  /** Woken when the task is killed (SIGKILL wakes a sleeping task); null when nobody waits. */
  sigkill: WaitQueue | null = null;
  /** Bytes written to its file so far (the page cache position of the next write). */
  fileBytes = 0;
  /** Pages dirtied since the last balance_dirty_pages call. */
  nrDirtied = 0;
  /** Pages to dirty before the next balance_dirty_pages call; copy_process starts it at 128 KiB. */
  nrDirtiedPause = 32;

  constructor(
    readonly id: number,
    readonly name: string,
  ) {}
}
