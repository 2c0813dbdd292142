/**
 * A user task as the memory model sees it: its anonymous pages (the OOM killer's measure), its
 * write position and balance_dirty_pages state (task_struct's nr_dirtied / nr_dirtied_pause).
 */
export class MmTask {
  /** Anonymous pages, most recent last; anonPages.length is the task's anon rss. */
  readonly anonPages: number[] = [];
  /** Set by the OOM killer; the task's allocations stop and its pages are gone. */
  killed = false;
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

  get anonRss(): number {
    return this.anonPages.length;
  }
}
