/**
 * Zone sizing arithmetic of mm/page_alloc.c (v3.2, and v6.1 where the era differs) as pure
 * functions: the default min_free_kbytes, the per-zone watermarks, the per-cpu page list batch and
 * high, and kswapd's balance gap.
 */
import type { KernelEraParams } from "../kernel-era.ts";

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/** min_free_kbytes bounds in init_per_zone_wmark_min. */
export const MIN_FREE_KBYTES_FLOOR = 128;
export const MIN_FREE_KBYTES_CEIL = 65536;

/** KSWAPD_ZONE_BALANCE_GAP_RATIO (include/linux/swap.h): balance_pgdat's gap is 1% of the zone. */
export const KSWAPD_ZONE_BALANCE_GAP_RATIO = 100;

/** int_sqrt (lib/int_sqrt.c): the largest integer whose square is ≤ x. */
export function intSqrt(x: number): number {
  if (!Number.isSafeInteger(x) || x < 0)
    throw new RangeError(`intSqrt needs a non-negative integer, got ${x}`);
  let r = Math.floor(Math.sqrt(x));
  while (r * r > x) r--;
  while ((r + 1) * (r + 1) <= x) r++;
  return r;
}

/**
 * init_per_zone_wmark_min: min_free_kbytes = int_sqrt(lowmem_kbytes * 16) clamped to [128, 65536].
 * The kernel takes lowmem_kbytes from nr_free_buffer_pages(), the sum over lowmem zones of
 * present_pages - high_wmark; the watermarks are still zero when this runs at module_init (this
 * function is what first sets them), so it is the lowmem zones' present pages. The model's zone is
 * all lowmem (x86_64), so lowmem_kbytes = present pages × 4.
 */
export function defaultMinFreeKbytes(lowmemKbytes: number, ceil = MIN_FREE_KBYTES_CEIL): number {
  const v = intSqrt(lowmemKbytes * 16);
  return Math.min(ceil, Math.max(MIN_FREE_KBYTES_FLOOR, v));
}

export interface Watermarks {
  min: number;
  low: number;
  high: number;
}

/**
 * setup_per_zone_wmarks for a lowmem zone: pages_min = min_free_kbytes >> (PAGE_SHIFT - 10) is
 * shared among lowmem zones in proportion to present pages (tmp = pages_min * present / lowmem),
 * then WMARK_MIN = tmp, WMARK_LOW = min + tmp/4, WMARK_HIGH = min + tmp/2.
 */
export function zoneWatermarks(
  minFreeKbytes: number,
  zonePresentPages: number,
  lowmemPresentPages = zonePresentPages,
): Watermarks {
  const pagesMin = Math.floor(minFreeKbytes / (1 << (PAGE_SHIFT - 10)));
  const tmp = Math.floor((pagesMin * zonePresentPages) / lowmemPresentPages);
  return { min: tmp, low: tmp + (tmp >> 2), high: tmp + (tmp >> 1) };
}

/** vm.watermark_scale_factor's default and sysctl bounds (mm/page_alloc.c, kernel/sysctl.c, v6.1). */
export const WATERMARK_SCALE_FACTOR_DEFAULT = 10;
export const WATERMARK_SCALE_FACTOR_MIN = 1;
export const WATERMARK_SCALE_FACTOR_MAX = 3000;

/**
 * __setup_per_zone_wmarks (mm/page_alloc.c, v6.1) for a lowmem zone: WMARK_MIN as in 3.2 (pages_min
 * shared by managed pages), then tmp = max(tmp >> 2, mult_frac(managed, watermark_scale_factor,
 * 10000)), WMARK_LOW = min + tmp, WMARK_HIGH = low + tmp. The model's zone size stands in for
 * managed pages (boot-time reservations are inside the zone as kernel memory; see Mm).
 */
export function zoneWatermarks61(
  minFreeKbytes: number,
  managedPages: number,
  scaleFactor: number,
  lowmemManagedPages = managedPages,
): Watermarks {
  const pagesMin = Math.floor(minFreeKbytes / (1 << (PAGE_SHIFT - 10)));
  const min = Math.floor((pagesMin * managedPages) / lowmemManagedPages);
  const tmp = Math.max(min >> 2, Math.floor((managedPages * scaleFactor) / 10000));
  return { min, low: min + tmp, high: min + 2 * tmp };
}

/** The zone's watermarks under an era's rules (scaleFactor is read only where the era has it). */
export function zoneWatermarksFor(
  era: KernelEraParams,
  minFreeKbytes: number,
  pages: number,
  scaleFactor = WATERMARK_SCALE_FACTOR_DEFAULT,
): Watermarks {
  return era.wmarkScaleFactor
    ? zoneWatermarks61(minFreeKbytes, pages, scaleFactor)
    : zoneWatermarks(minFreeKbytes, pages);
}

/**
 * zone_batchsize: the per-cpu page list batch, about 1/1000 of the zone capped at 512 KiB, divided
 * by 4 and clamped to 2^n - 1 (free_pcppages_bulk frees this many pages to the buddy lists).
 */
export function zoneBatchsize(presentPages: number, capBytes = 512 * 1024): number {
  let batch = Math.floor(presentPages / 1024);
  if (batch * PAGE_SIZE > capBytes) batch = capBytes / PAGE_SIZE;
  batch = Math.floor(batch / 4);
  if (batch < 1) batch = 1;
  const x = batch + Math.floor(batch / 2);
  return 2 ** Math.floor(Math.log2(x)) - 1;
}

/** zone_batchsize (v6.1): min(managed >> 10, SZ_1M / PAGE_SIZE), then as in 3.2. */
export const ZONE_BATCHSIZE_CAP_61 = 1024 * 1024;

/**
 * zone_highsize (mm/page_alloc.c, v6.1): pcp->high. Without percpu_pagelist_high_fraction the
 * zone's low watermark ("so that if they are full then background reclaim will not be started
 * prematurely"), else managed / fraction; split over the node's CPUs (cpumask_weight of the node
 * plus cpu_online, 0 once boot has brought them up), at least batch × 4.
 */
export function zoneHighsize(
  lowWmark: number,
  managedPages: number,
  batch: number,
  ncpus: number,
  highFraction = 0,
): number {
  const total = highFraction === 0 ? lowWmark : Math.floor(managedPages / highFraction);
  return Math.max(Math.floor(total / ncpus), batch << 2);
}

/** balance_pgdat: balance_gap = min(low_wmark, DIV_ROUND_UP(present, KSWAPD_ZONE_BALANCE_GAP_RATIO)). */
export function kswapdBalanceGap(wm: Watermarks, presentPages: number): number {
  return Math.min(wm.low, Math.ceil(presentPages / KSWAPD_ZONE_BALANCE_GAP_RATIO));
}
