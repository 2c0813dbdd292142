import { describe, expect, it } from "vitest";
import { PKT_DATA, PacketPool } from "../../../net/packet.ts";
import { mmFixture } from "../../mm/fixture.ts";
import { GFP_ATOMIC } from "../../mm/gfp.ts";
import { ERA_6_1 } from "../../kernel-era.ts";
import { defaultMinFreeKbytes, zoneWatermarks, zoneWatermarksFor } from "../../mm/watermarks.ts";
import { MmAdapter } from "../../../run/system.ts";
import { OWNER_SKB } from "../../mm/page-table.ts";
import { ALLOC_SITE_SMALL_SKB_DATA, ALLOC_SITE_TCP_COLLAPSE } from "../mm-port.ts";
import { allocSkbTruesize, SkbPool } from "../skb.ts";
import { TcpReceiver } from "./receiver.ts";
import { nrFreeBufferPages, TcpMem, tcpMemDefaults } from "./tcp-mem.ts";

describe("tcp_mem (tcp_init)", () => {
  const forGuest = (bytes: number) => {
    const pages = bytes / 4096;
    const high = zoneWatermarks(defaultMinFreeKbytes(bytes / 1024), pages).high;
    return tcpMemDefaults(nrFreeBufferPages(pages, high));
  };

  it("is {limit/4*3, limit, tcp_mem[0]*2} pages with limit = nr_free_buffer_pages()/8", () => {
    // 256 MiB: 65536 pages; min_free_kbytes = sqrt(262144 * 16) = 2048 → min 512 pages, high 768;
    // nr_free_buffer_pages 64768; limit 8096; tcp_mem = {2024 * 3, 8096, 6072 * 2}
    expect(forGuest(256 << 20)).toEqual([6072, 8096, 12144]);
    // 1 GiB: 262144 pages; min_free_kbytes = sqrt(1048576 * 16) = 4096 → min 1024, high 1536;
    // nr_free_buffer_pages 260608; limit 32576; tcp_mem = {8144 * 3, 32576, 24432 * 2}
    expect(forGuest(1 << 30)).toEqual([24432, 32576, 48864]);
    // at least 128 pages of limit
    expect(tcpMemDefaults(100)).toEqual([96, 128, 192]);
  });

  it("takes limit = nr_free_buffer_pages()/16 on 6.1 (tcp_init_mem)", () => {
    // 1 GiB on 6.1: min 1024, high 1548 (watermark_scale_factor 10) → 260596 pages; limit 16287;
    // tcp_mem = {4071 * 3, 16287, 12213 * 2}
    const pages = 262144;
    const high = zoneWatermarksFor(ERA_6_1, 4096, pages).high;
    expect(high).toBe(1548);
    expect(tcpMemDefaults(nrFreeBufferPages(pages, high), ERA_6_1.tcpMemDivisor)).toEqual([
      12213, 16287, 24426,
    ]);
  });

  it("enters pressure above tcp_mem[1] and leaves it when a reclaim goes below tcp_mem[0]", () => {
    const m = new TcpMem([4, 8, 16]);
    m.sockets = 1;
    expect(m.schedule(4 * 4096, 0, 0)).toBe(4);
    expect(m.pressure).toBe(false);
    expect(m.schedule(5 * 4096, 4 * 4096, 0)).toBe(5);
    expect(m.pressure).toBe(true);
    expect(m.memoryPressures).toBe(1);
    // between [0] and [1] the flag stays until a reclaim takes the total below [0]
    m.reclaim(2);
    expect(m.pressure).toBe(true);
    m.reclaim(4);
    expect(m.pressure).toBe(false);
    expect(m.allocated).toBe(3);
  });
});

describe("tcp_collapse through the memory model", () => {
  const MSS = 1448;
  /** A socket with a locked 87380-byte buffer fed 60 segments in skbs of the small receive mode. */
  const run = (atFloor: boolean) => {
    const { sim, mm } = mmFixture({ memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 });
    const skbs = new SkbPool(new MmAdapter(mm), new Int32Array(mm.nPages).fill(-1));
    const pool = new PacketPool(64);
    const rx = new TcpReceiver(
      sim,
      pool,
      { sendAck: (p) => pool.free(p) },
      {
        flow: 0,
        userLocked: true,
        delayedAck: false,
        release: { freeSkb: (s) => skbs.kfree(s) },
        alloc: { allocCollapseSkb: (size) => skbs.allocAtomic(size, GFP_ATOMIC, ALLOC_SITE_TCP_COLLAPSE) },
      },
    );
    // add_recvbuf_small's skb: MAX_PACKET_LEN 1518 + NET_SKB_PAD 64 → kmalloc-2048, truesize 2304
    const segs: number[] = [];
    for (let i = 0; i < 60; i++)
      segs.push(skbs.allocAtomic(1518 + 64, GFP_ATOMIC, ALLOC_SITE_SMALL_SKB_DATA));
    expect(allocSkbTruesize(1518 + 64)).toBe(2304);
    // GFP_ATOMIC page allocations fail from here on; slabs with free objects still serve
    if (atFloor) while (mm.allocPageAtomic(GFP_ATOMIC, OWNER_SKB) >= 0);
    let delivered = 0;
    for (let i = 0; i < segs.length; i++) {
      const p = pool.alloc();
      pool.kind[p] = PKT_DATA;
      pool.seq[p] = i * MSS;
      pool.len[p] = MSS;
      // what fits the advertised window (65535 bytes at most)
      if ((i + 1) * MSS > rx.nextExpected + rx.window) {
        pool.free(p);
        skbs.kfree(segs[i]!);
        continue;
      }
      rx.receive(p, skbs.truesize[segs[i]!]!, segs[i]!);
      delivered++;
    }
    mm.checkInvariant();
    return { rx, skbs, delivered, mm };
  };

  it("copies into kmalloc-4096 skbs and drops nothing while memory lasts", () => {
    const { rx, skbs, delivered, mm } = run(false);
    expect(rx.counters.rcvCollapsed).toBeGreaterThan(0);
    expect(rx.counters.rcvPruned).toBe(0);
    expect(rx.readableBytes).toBe(delivered * MSS);
    expect(mm.kmallocCache(4096).inuse).toBeGreaterThan(0);
    rx.read(Number.POSITIVE_INFINITY);
    expect(skbs.live).toBe(0);
  });

  it("prunes when its GFP_ATOMIC allocation fails at the atomic floor", () => {
    const { rx, skbs, delivered } = run(true);
    expect(rx.counters.collapseAllocFailures).toBeGreaterThan(0);
    expect(rx.counters.rcvPruned).toBeGreaterThan(0);
    expect(rx.readableBytes).toBeLessThan(delivered * MSS);
    rx.read(Number.POSITIVE_INFINITY);
    expect(skbs.live).toBe(0);
  });
});
