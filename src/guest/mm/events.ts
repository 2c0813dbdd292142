/**
 * Event counters, indices into one Float64Array. Names are /proc/vmstat's where the kernel has the
 * counter (without the per-zone suffix, the model having one zone; pgsteal split as in 3.3+); the
 * rest are the model's own and say so.
 */
export const EV_PGALLOC = 0;
export const EV_PGFREE = 1;
export const EV_ALLOCSTALL = 2;
export const EV_PGSCAN_KSWAPD = 3;
export const EV_PGSCAN_DIRECT = 4;
export const EV_PGSTEAL_KSWAPD = 5;
export const EV_PGSTEAL_DIRECT = 6;
export const EV_PAGEOUTRUN = 7;
export const EV_KSWAPD_LOW_WMARK_HIT_QUICKLY = 8;
export const EV_KSWAPD_HIGH_WMARK_HIT_QUICKLY = 9;
export const EV_KSWAPD_SKIP_CONGESTION_WAIT = 10;
export const EV_PGROTATED = 11;
export const EV_NR_VMSCAN_WRITE = 12;
export const EV_NR_VMSCAN_IMMEDIATE = 13;
export const EV_NR_DIRTIED = 14;
export const EV_NR_WRITTEN = 15;
export const EV_OOM_KILL = 16;
/** Model: wakeup_kswapd calls that found kswapd asleep and woke it. */
export const EV_KSWAPD_WAKEUPS = 17;
/** Model: failed allocations by calling context. */
export const EV_ALLOCFAIL_ATOMIC = 18;
export const EV_ALLOCFAIL_PROCESS = 19;
/** Model: balance_dirty_pages sleeps and their total length in jiffies. */
export const EV_DIRTY_PAUSES = 20;
export const EV_DIRTY_PAUSE_JIFFIES = 21;
/** Model: requests submitted to the disk and completed. */
export const EV_DISK_REQUESTS = 22;
export const EV_DISK_COMPLETIONS = 23;
/** Model: wakeup_flusher_threads calls from direct reclaim. */
export const EV_FLUSHER_WAKEUPS_RECLAIM = 24;
/** Model: congestion_wait sleeps. */
export const EV_CONGESTION_WAITS = 25;
/** Model: allocations failed by a fault injector (fault-inject.ts), also counted above. */
export const EV_ALLOCFAIL_INJECTED = 26;
/** Model: warn_alloc_failed warnings printed, and those nopage_rs suppressed. */
export const EV_ALLOCFAIL_WARNED = 27;
export const EV_ALLOCFAIL_WARN_SUPPRESSED = 28;
/** /proc/vmstat: pages moved to the active file list (__activate_page). */
export const EV_PGACTIVATE = 29;
/** /proc/vmstat: pages shrink_active_list moved to the inactive list (move_active_pages_to_lru). */
export const EV_PGDEACTIVATE = 30;
/** /proc/vmstat: pages shrink_active_list scanned (__count_zone_vm_events(PGREFILL)). */
export const EV_PGREFILL = 31;
/**
 * Model (6.1): reclaim_throttle sleeps by reason, as the vmscan:mm_vmscan_throttled tracepoint
 * reports them (VMSCAN_THROTTLE_WRITEBACK, _CONGESTED, _NOPROGRESS); throttles skipped for
 * skip_throttle_noprogress or a kthread are not counted.
 */
export const EV_VMSCAN_THROTTLED_WRITEBACK = 32;
export const EV_VMSCAN_THROTTLED_CONGESTED = 33;
export const EV_VMSCAN_THROTTLED_NOPROGRESS = 34;
export const EV_COUNT = 35;

export const EV_NAMES: readonly string[] = [
  "pgalloc",
  "pgfree",
  "allocstall",
  "pgscan_kswapd",
  "pgscan_direct",
  "pgsteal_kswapd",
  "pgsteal_direct",
  "pageoutrun",
  "kswapd_low_wmark_hit_quickly",
  "kswapd_high_wmark_hit_quickly",
  "kswapd_skip_congestion_wait",
  "pgrotated",
  "nr_vmscan_write",
  "nr_vmscan_immediate_reclaim",
  "nr_dirtied",
  "nr_written",
  "oom_kill",
  "kswapd_wakeups",
  "allocfail_atomic",
  "allocfail_process",
  "dirty_throttle_pauses",
  "dirty_throttle_jiffies",
  "disk_requests",
  "disk_completions",
  "flusher_wakeups_reclaim",
  "congestion_waits",
  "allocfail_injected",
  "allocfail_warned",
  "allocfail_warn_suppressed",
  "pgactivate",
  "pgdeactivate",
  "pgrefill",
  "vmscan_throttled_writeback",
  "vmscan_throttled_congested",
  "vmscan_throttled_noprogress",
];
