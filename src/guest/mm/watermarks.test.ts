import { describe, expect, it } from "vitest";
import {
  __GFP_FS,
  __GFP_HIGH,
  __GFP_IO,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_WAIT,
  ALLOC_CPUSET,
  ALLOC_HARDER,
  ALLOC_HIGH,
  ALLOC_WMARK_MIN,
  effectiveMin,
  GFP_ATOMIC,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_NOWAIT,
  gfpName,
  gfpToAllocFlags,
  zoneWatermarkOk,
} from "./gfp.ts";
import {
  defaultMinFreeKbytes,
  intSqrt,
  kswapdBalanceGap,
  zoneBatchsize,
  zoneWatermarks,
} from "./watermarks.ts";

const MiB = 1024;

describe("init_per_zone_wmark_min", () => {
  // The table in the comment above init_per_zone_wmark_min (mm/page_alloc.c, v3.2).
  const table: [number, number][] = [
    [16, 512],
    [32, 724],
    [64, 1024],
    [128, 1448],
    [256, 2048],
    [512, 2896],
    [1024, 4096],
    [2048, 5792],
    [4096, 8192],
    [16384, 16384],
  ];
  it.each(table)("%i MB of lowmem gives %i kB", (mb, kb) => {
    expect(defaultMinFreeKbytes(mb * MiB)).toBe(kb);
  });

  it("gives 11585 kB for 8 GB, where the comment's table rounds to 11584", () => {
    // int_sqrt(8388608 * 16) = int_sqrt(134217728) = 11585 (11585² = 134212225 ≤ it < 11586²).
    expect(defaultMinFreeKbytes(8192 * MiB)).toBe(11585);
  });

  it("clamps to [128, 65536]", () => {
    expect(defaultMinFreeKbytes(512)).toBe(128);
    expect(defaultMinFreeKbytes(1024)).toBe(128);
    expect(defaultMinFreeKbytes(300 * 1024 * MiB)).toBe(65536);
  });

  it("int_sqrt is the floor square root", () => {
    for (const x of [0, 1, 2, 3, 4, 15, 16, 17, 99, 100, 134217728, 2 ** 40 + 5]) {
      const r = intSqrt(x);
      expect(r * r).toBeLessThanOrEqual(x);
      expect((r + 1) * (r + 1)).toBeGreaterThan(x);
    }
  });
});

describe("setup_per_zone_wmarks", () => {
  it.each([
    // memory MB, min_free_kbytes (default), min, low, high
    [64, 1024, 256, 320, 384],
    [256, 2048, 512, 640, 768],
    [1024, 4096, 1024, 1280, 1536],
    [4096, 8192, 2048, 2560, 3072],
  ])("%i MB: min_free_kbytes %i → min %i low %i high %i", (mb, kb, min, low, high) => {
    const pages = (mb * MiB) / 4;
    expect(defaultMinFreeKbytes(pages * 4)).toBe(kb);
    expect(zoneWatermarks(kb, pages)).toEqual({ min, low, high });
  });

  it("shares pages_min among lowmem zones by size (kernel-facts §3.2: DMA32 of a 1 GiB guest)", () => {
    expect(zoneWatermarks(4096, 258048, 262144)).toEqual({ min: 1008, low: 1260, high: 1512 });
  });

  it("has low = min + min/4 and high = min + min/2 with integer shifts", () => {
    expect(zoneWatermarks(1030, 1000)).toEqual({ min: 257, low: 257 + 64, high: 257 + 128 });
  });

  it("zone_batchsize of a 1 GiB zone is 31, kswapd's balance gap is min(low, 1% of the zone)", () => {
    expect(zoneBatchsize(262144)).toBe(31);
    expect(zoneBatchsize(16384)).toBe(3);
    expect(kswapdBalanceGap({ min: 1024, low: 1280, high: 1536 }, 262144)).toBe(1280);
    expect(kswapdBalanceGap({ min: 256, low: 320, high: 384 }, 16384)).toBe(164);
  });
});

describe("gfp flags", () => {
  it("has the 3.2 values and composites", () => {
    expect([
      __GFP_WAIT,
      __GFP_HIGH,
      __GFP_IO,
      __GFP_FS,
      __GFP_NOWARN,
      __GFP_NORETRY,
      __GFP_NOMEMALLOC,
    ]).toEqual([0x10, 0x20, 0x40, 0x80, 0x200, 0x1000, 0x10000]);
    expect(GFP_ATOMIC).toBe(0x20);
    expect(GFP_KERNEL).toBe(0xd0);
    expect(GFP_NOWAIT).toBe(0);
    expect(GFP_HIGHUSER_MOVABLE).toBe(0x200da);
  });

  it("gfp_to_alloc_flags gives GFP_ATOMIC ALLOC_HIGH|ALLOC_HARDER and GFP_KERNEL neither", () => {
    expect(gfpToAllocFlags(GFP_ATOMIC)).toBe(ALLOC_WMARK_MIN | ALLOC_HIGH | ALLOC_HARDER);
    expect(gfpToAllocFlags(GFP_NOWAIT)).toBe(ALLOC_WMARK_MIN | ALLOC_HARDER);
    expect(gfpToAllocFlags(GFP_ATOMIC | __GFP_NOMEMALLOC)).toBe(ALLOC_WMARK_MIN | ALLOC_HIGH);
    expect(gfpToAllocFlags(GFP_KERNEL)).toBe(ALLOC_WMARK_MIN | ALLOC_CPUSET);
  });

  it("lets GFP_ATOMIC go down to 3/8 of min, exactly as __zone_watermark_ok computes it", () => {
    const atomic = gfpToAllocFlags(GFP_ATOMIC);
    expect(effectiveMin(1024, atomic)).toBe(384);
    expect(effectiveMin(256, atomic)).toBe(96);
    // min 1001: 1001 - 500 = 501, 501 - 125 = 376 (integer division at each step).
    expect(effectiveMin(1001, atomic)).toBe(376);
    expect(zoneWatermarkOk(99, 256, atomic)).toBe(true);
    expect(zoneWatermarkOk(98, 256, atomic)).toBe(false);
    expect(zoneWatermarkOk(259, 256, gfpToAllocFlags(GFP_KERNEL))).toBe(true);
    expect(zoneWatermarkOk(258, 256, gfpToAllocFlags(GFP_KERNEL))).toBe(false);
  });

  it("names masks by their largest composite", () => {
    expect(gfpName(GFP_ATOMIC)).toBe("GFP_ATOMIC");
    expect(gfpName(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN)).toBe("GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY");
    expect(gfpName(GFP_NOWAIT)).toBe("GFP_NOWAIT");
    expect(gfpName(GFP_HIGHUSER_MOVABLE)).toBe("GFP_HIGHUSER_MOVABLE");
    expect(gfpName(0x100000)).toBe("0x100000");
  });
});
