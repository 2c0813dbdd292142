/**
 * CPU cost accounting categories: every charge says what it was for, so a run can report how much
 * vCPU time the driver, the allocator, reclaim or TCP took.
 */
export const CAT_IRQ = 0;
export const CAT_DRIVER = 1;
export const CAT_MM = 2;
export const CAT_RECLAIM = 3;
export const CAT_TCP = 4;
export const CAT_APP = 5;
export const CAT_SCHED = 6;
export const CAT_COUNT = 7;
export const CAT_NAMES = ["irq", "driver", "mm", "reclaim", "tcp", "app", "sched"] as const;
