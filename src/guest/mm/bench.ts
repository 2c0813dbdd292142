/**
 * Allocator fast-path benchmark: allocPageAtomic/freePage pairs and kmem cache alloc/free pairs on
 * a 1 GiB zone well above its watermarks, outside any simulated context (no CPU charging), after
 * a warm-up of a tenth of the pairs. The rates are pairs per second of wall time; the target is ≥ 10 M page pairs/s.
 */
import { mmFixture } from "./fixture.ts";
import { GFP_ATOMIC } from "./gfp.ts";
import { OWNER_SKB } from "./page-table.ts";

export interface MmBenchRow {
  name: string;
  opsPerSecond: number;
}

/** In-flight objects per round: a ring's worth, so the stacks move rather than ping-pong one entry. */
const BATCH = 256;

function timePairs(pairs: number, round: (held: Int32Array) => void): number {
  const held = new Int32Array(BATCH);
  const rounds = Math.max(1, Math.ceil(pairs / BATCH));
  for (let r = 0; r < Math.ceil(rounds / 10); r++) round(held);
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) round(held);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return Math.round((rounds * BATCH) / seconds);
}

/** Rows for page pairs and for skbuff_head_cache object pairs (default 10 million pairs each). */
export function benchAlloc(opts: { pairs?: number } = {}): MmBenchRow[] {
  const pairs = opts.pairs ?? 10_000_000;
  const { mm } = mmFixture({ memBytes: 1 << 30 });
  const pageRate = timePairs(pairs, (held) => {
    for (let i = 0; i < BATCH; i++) held[i] = mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB);
    for (let i = 0; i < BATCH; i++) mm.freePage(held[i]!);
  });
  const cache = mm.skbuffHeadCache;
  const slabRate = timePairs(pairs, (held) => {
    for (let i = 0; i < BATCH; i++) held[i] = mm.kmemCacheAllocAtomic(cache, GFP_ATOMIC);
    for (let i = 0; i < BATCH; i++) mm.kmemCacheFree(cache, held[i]!);
  });
  mm.checkInvariant();
  return [
    { name: "allocPageAtomic+freePage", opsPerSecond: pageRate },
    { name: "kmemCacheAllocAtomic+kmemCacheFree (skbuff_head_cache)", opsPerSecond: slabRate },
  ];
}
