/**
 * gfp flags and allocation flags of Linux 3.2, and the zone watermark test of the page allocator.
 *
 * Values are include/linux/gfp.h of v3.2 (__GFP_BITS_SHIFT 23: no __GFP_MEMALLOC yet, which came in
 * 3.6 and took 0x2000). ALLOC_* are the private flags of mm/page_alloc.c.
 */

export const __GFP_DMA = 0x01;
export const __GFP_HIGHMEM = 0x02;
export const __GFP_DMA32 = 0x04;
export const __GFP_MOVABLE = 0x08;
/** Can wait and reschedule: direct reclaim, congestion waits, the OOM killer. */
export const __GFP_WAIT = 0x10;
/** Should access emergency pools (ALLOC_HIGH). */
export const __GFP_HIGH = 0x20;
export const __GFP_IO = 0x40;
/** Can call down to the filesystem; required for the OOM killer (__alloc_pages_slowpath). */
export const __GFP_FS = 0x80;
export const __GFP_COLD = 0x100;
export const __GFP_NOWARN = 0x200;
export const __GFP_REPEAT = 0x400;
export const __GFP_NOFAIL = 0x800;
/** Give up after one direct reclaim pass (should_alloc_retry), never OOM-kill. */
export const __GFP_NORETRY = 0x1000;
export const __GFP_COMP = 0x4000;
export const __GFP_ZERO = 0x8000;
/** Do not dip into the reserves: no ALLOC_HARDER for atomic callers (gfp_to_alloc_flags). */
export const __GFP_NOMEMALLOC = 0x10000;
export const __GFP_HARDWALL = 0x20000;
export const __GFP_THISNODE = 0x40000;
export const __GFP_RECLAIMABLE = 0x80000;
export const __GFP_NOTRACK = 0x200000;
/** Do not wake kswapd (GFP_TRANSHUGE). */
export const __GFP_NO_KSWAPD = 0x400000;
export const __GFP_OTHER_NODE = 0x800000;

export const GFP_ATOMIC = __GFP_HIGH;
export const GFP_NOWAIT = GFP_ATOMIC & ~__GFP_HIGH;
export const GFP_NOIO = __GFP_WAIT;
export const GFP_NOFS = __GFP_WAIT | __GFP_IO;
export const GFP_KERNEL = __GFP_WAIT | __GFP_IO | __GFP_FS;
export const GFP_USER = __GFP_WAIT | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
export const GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
/** Page cache and anonymous user pages (mapping_gfp_mask, alloc_page_vma). */
export const GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE;

/** The ALLOC_WMARK bits index zone->watermark[] (mm/page_alloc.c). */
export const WMARK_MIN = 0;
export const WMARK_LOW = 1;
export const WMARK_HIGH = 2;
export const ALLOC_WMARK_MIN = WMARK_MIN;
export const ALLOC_WMARK_LOW = WMARK_LOW;
export const ALLOC_WMARK_HIGH = WMARK_HIGH;
export const ALLOC_NO_WATERMARKS = 0x04;
export const ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1;
export const ALLOC_HARDER = 0x10;
/** Equal to __GFP_HIGH (BUILD_BUG_ON in gfp_to_alloc_flags), so it is copied bit for bit. */
export const ALLOC_HIGH = 0x20;
export const ALLOC_CPUSET = 0x40;

/**
 * gfp_to_alloc_flags (mm/page_alloc.c, v3.2): the slow path's watermark flags. GFP_ATOMIC gets
 * ALLOC_HIGH (from __GFP_HIGH) and ALLOC_HARDER (cannot wait). Not modelled: ALLOC_HARDER for
 * real-time tasks and ALLOC_NO_WATERMARKS for PF_MEMALLOC / TIF_MEMDIE tasks — no model task
 * allocates while reclaiming or after being OOM-killed.
 */
export function gfpToAllocFlags(gfp: number): number {
  let flags = ALLOC_WMARK_MIN | ALLOC_CPUSET;
  flags |= gfp & __GFP_HIGH;
  if ((gfp & __GFP_WAIT) === 0) {
    if ((gfp & __GFP_NOMEMALLOC) === 0) flags |= ALLOC_HARDER;
    flags &= ~ALLOC_CPUSET;
  }
  return flags;
}

/**
 * __zone_watermark_ok for an order-0 allocation (mm/page_alloc.c, v3.2):
 *   free_pages -= (1 << order) + 1;
 *   if (alloc_flags & ALLOC_HIGH)   min -= min / 2;
 *   if (alloc_flags & ALLOC_HARDER) min -= min / 4;
 *   if (free_pages <= min + lowmem_reserve) return false;
 * so GFP_ATOMIC succeeds while free - 2 > 3/8·min (integer arithmetic). 6.1 takes off
 * __zone_watermark_unusable_free instead, 0 for order 0 here: `unusable` (kernel-era.ts).
 */
export function zoneWatermarkOk(
  freePages: number,
  mark: number,
  allocFlags: number,
  lowmemReserve = 0,
  unusable = 2,
): boolean {
  return freePages - unusable > effectiveMin(mark, allocFlags) + lowmemReserve;
}

/** The min that __zone_watermark_ok compares against after the ALLOC_HIGH / ALLOC_HARDER cuts. */
export function effectiveMin(mark: number, allocFlags: number): number {
  let min = mark;
  if ((allocFlags & ALLOC_HIGH) !== 0) min -= Math.floor(min / 2);
  if ((allocFlags & ALLOC_HARDER) !== 0) min -= Math.floor(min / 4);
  return min;
}

const COMPOSITES: readonly (readonly [string, number])[] = [
  ["GFP_HIGHUSER_MOVABLE", GFP_HIGHUSER_MOVABLE],
  ["GFP_HIGHUSER", GFP_HIGHUSER],
  ["GFP_USER", GFP_USER],
  ["GFP_KERNEL", GFP_KERNEL],
  ["GFP_NOFS", GFP_NOFS],
  ["GFP_NOIO", GFP_NOIO],
  ["GFP_ATOMIC", GFP_ATOMIC],
];

const FLAG_NAMES: readonly (readonly [string, number])[] = [
  ["__GFP_DMA", __GFP_DMA],
  ["__GFP_HIGHMEM", __GFP_HIGHMEM],
  ["__GFP_DMA32", __GFP_DMA32],
  ["__GFP_MOVABLE", __GFP_MOVABLE],
  ["__GFP_WAIT", __GFP_WAIT],
  ["__GFP_HIGH", __GFP_HIGH],
  ["__GFP_IO", __GFP_IO],
  ["__GFP_FS", __GFP_FS],
  ["__GFP_COLD", __GFP_COLD],
  ["__GFP_NOWARN", __GFP_NOWARN],
  ["__GFP_REPEAT", __GFP_REPEAT],
  ["__GFP_NOFAIL", __GFP_NOFAIL],
  ["__GFP_NORETRY", __GFP_NORETRY],
  ["__GFP_COMP", __GFP_COMP],
  ["__GFP_ZERO", __GFP_ZERO],
  ["__GFP_NOMEMALLOC", __GFP_NOMEMALLOC],
  ["__GFP_HARDWALL", __GFP_HARDWALL],
  ["__GFP_THISNODE", __GFP_THISNODE],
  ["__GFP_RECLAIMABLE", __GFP_RECLAIMABLE],
  ["__GFP_NOTRACK", __GFP_NOTRACK],
  ["__GFP_NO_KSWAPD", __GFP_NO_KSWAPD],
  ["__GFP_OTHER_NODE", __GFP_OTHER_NODE],
];

/** Names already built: a run uses a handful of masks, and the driver names one per try_fill_recv. */
const gfpNames = new Map<number, string>();

/** A readable name: the largest composite contained in gfp, then the remaining flags. */
export function gfpName(gfp: number): string {
  let name = gfpNames.get(gfp);
  if (name === undefined) {
    name = buildGfpName(gfp);
    gfpNames.set(gfp, name);
  }
  return name;
}

function buildGfpName(gfp: number): string {
  if (gfp === GFP_NOWAIT) return "GFP_NOWAIT";
  const parts: string[] = [];
  let rest = gfp;
  for (const [name, bits] of COMPOSITES) {
    if ((gfp & bits) === bits) {
      parts.push(name);
      rest &= ~bits;
      break;
    }
  }
  for (const [name, bit] of FLAG_NAMES) {
    if ((rest & bit) !== 0) {
      parts.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
  return parts.join("|");
}
