/**
 * `mainline`'s v6.1 receive buffers (versions/mainline_6_1.ts): page_frag small buffers of one sg
 * entry with the skb built at receive, EWMA-sized mergeable buffers and frames over num_buffers,
 * big buffers of MAX_SKB_FRAGS + 1 = 18 pages with build_skb around the first, and the ring that
 * publishes avail->idx per buffer.
 */
import { describe, expect, it } from "vitest";
import { GFP_ATOMIC } from "../../mm/gfp.ts";
import { OWNER_DRIVER_LIST, OWNER_PAGE_FRAG, OWNER_RX_RING } from "../../mm/page-table.ts";
import { ms } from "../../../sim/time.ts";
import { SLAB_SKBUFF_HEAD } from "../mm-port.ts";
import { type DriverHarness, idleGuest } from "./testing.ts";
import { ewmaPktLenAdd, type Mainline61, mergeableMinBufLen } from "./versions/mainline_6_1.ts";

/** The driver these tests are about, unless a test names another. */
const MAINLINE = { driver: "mainline" };

const m61 = (h: DriverHarness) => h.driver as Mainline61;

/** Sum of page_count over the counted pages of posted buffers and the frag cache's page. */
function postedRefs(h: DriverHarness): { refs: number; pages: Set<number> } {
  const pages = new Set<number>();
  m61(h).forEachPostedSlice((p) => pages.add(p));
  if (m61(h).frag.page >= 0) pages.add(m61(h).frag.page);
  let refs = 0;
  for (const p of pages) refs += h.mm.pageCount(p);
  return { refs, pages };
}

describe("small buffers as 6.1", () => {
  it("are 1920-byte page_frag slices in one sg entry: 17 per order-3 page, a full ring without indirect", () => {
    const h = idleGuest("small", { driver: "mainline", indirect: false });
    expect(m61(h).smallBufLen()).toBe(1920);
    // One descriptor per buffer: the ring holds 256 (v3.2's two-entry buffers: 128).
    expect(h.driver.max).toBe(256);
    expect(idleGuest("small", { driver: "mainline-3.2buf", indirect: false }).driver.max).toBe(128);
    // ceil(256 / 17) = 16 order-3 pages of 8 pfns, nothing owned by the ring itself.
    expect(h.driver.stats.pageFragHighOrder).toBe(16);
    expect(h.mm.ownerCount(OWNER_PAGE_FRAG)).toBe(16 * 8);
    expect(h.mm.ownerCount(OWNER_RX_RING)).toBe(0);
    // Every posted slice holds a reference, and the cache one on its current page.
    expect(postedRefs(h).refs).toBe(256 + 1);
    h.mm.checkInvariant();
  });

  it("are put again when try_fill_recv finds the ring full (-ENOSPC after the allocation)", () => {
    const h = idleGuest("small", MAINLINE);
    expect(h.vq.numFree).toBe(0);
    const before = postedRefs(h).refs;
    let ok: boolean | undefined;
    h.k.hardirq(0, () => {
      ok = h.driver.tryFillRecvCounted(GFP_ATOMIC).next().value as boolean;
    });
    expect(ok).toBe(true);
    expect(h.driver.stats.buffersFreedNoSpace).toBe(1);
    expect(postedRefs(h).refs).toBe(before);
    h.mm.checkInvariant();
  });

  it("get their skb from build_skb at receive, which holds the slice's reference", () => {
    const h = idleGuest("small", MAINLINE);
    const before = postedRefs(h);
    const heads = h.mm.skbuffHeadCache.inuse;
    h.injectFrame(1514);
    h.runFor(ms(1));
    expect(h.delivered.at(-1)).toMatchObject({ len: 1514, frags: 0, pageRefs: 1, truesize: 1920 + 256 });
    expect(h.driver.stats.rxPackets).toBe(1);
    // The stack freed the skb (no socket owns the flow): the slice's reference went with it.
    expect(postedRefs(h).refs).toBe(before.refs - 1);
    expect(h.mm.skbuffHeadCache.inuse).toBe(heads);
  });

  it("drop the packet and put the slice when build_skb cannot allocate the sk_buff", () => {
    const h = idleGuest("small", MAINLINE);
    const port = h.driver.env.mm;
    const slabAllocAtomic = port.slabAllocAtomic;
    let failed = 0;
    port.slabAllocAtomic = (cache, gfp) => {
      if (cache === SLAB_SKBUFF_HEAD && failed === 0) {
        failed++;
        return -1;
      }
      return slabAllocAtomic.call(port, cache, gfp);
    };
    const before = postedRefs(h);
    const packetsLive = h.sys.packets.live;
    h.injectFrame(1514);
    h.runFor(ms(1));
    expect(failed).toBe(1);
    expect(h.delivered).toHaveLength(0);
    expect(h.driver.stats.rxDroppedNoMem).toBe(1);
    expect(h.driver.stats.rxSkbAllocFailures).toBe(1);
    expect(h.driver.stats.buffersConsumed).toBe(1);
    expect(postedRefs(h).refs).toBe(before.refs - 1);
    expect(h.sys.packets.live).toBe(packetsLive);
    h.mm.checkInvariant();
  });
});

describe("mergeable buffers as 6.1", () => {
  it("mergeable_min_buf_len and the EWMA of packet lengths (weight 64)", () => {
    // A full ring of 256 holds a 64 KiB packet with GOOD_PACKET_LEN buffers; one of 32 needs more.
    expect(mergeableMinBufLen(12, 256)).toBe(1518);
    expect(mergeableMinBufLen(12, 32)).toBe(Math.ceil((12 + 18 + 65535) / 32) - 12);
    expect(ewmaPktLenAdd(0, 1514)).toBe(1514);
    expect(ewmaPktLenAdd(1514, 60000)).toBe(Math.floor((1514 * 63 + 60000) / 64));
  });

  it("start at ALIGN(hdr_len + GOOD_PACKET_LEN, 64) = 1536 bytes, the last slice of a page taking the hole", () => {
    const h = idleGuest("mergeable", MAINLINE);
    expect(m61(h).mergeableBufLen()).toBe(1536);
    const sizes = new Map<number, number[]>();
    m61(h).forEachPostedSlice((p, off, ts) => sizes.set(p, [...(sizes.get(p) ?? []), off + ts]));
    // 21 slices of 1536 in 32 KiB, the 21st grown by the 512-byte hole to the page's end.
    for (const ends of sizes.values()) {
      if (ends.length === 21) expect(Math.max(...ends)).toBe(32768);
    }
    expect([...sizes.values()].some((e) => e.length === 21)).toBe(true);
  });

  /**
   * A frame spread over `n` used buffers as a GSO-capable device writes it: num_buffers = n in the
   * first buffer's header, each buffer filled but the last, the frame recorded at the first head.
   */
  function receiveMultiBuffer(h: DriverHarness, frameBytes: number, n: number) {
    const dev = h.sys.device;
    const packets = h.sys.packets;
    const pkt = packets.alloc();
    packets.wireLen[pkt] = frameBytes;
    packets.flow[pkt] = h.sys.flows.length;
    let left = 12 + frameBytes;
    const heads: number[] = [];
    for (let i = 0; i < n; i++) {
      const head = dev.popChain();
      expect(head).toBeGreaterThanOrEqual(0);
      const wrote = dev.chain.write(i === n - 1 ? left : Math.min(left, dev.chain.writableBytes));
      left -= wrote;
      dev.addUsed(head, wrote);
      heads.push(head);
    }
    expect(left).toBe(0);
    h.host.packetAtHead[heads[0]!] = pkt;
    h.driver.env.numBuffersAt = (head) => (head === heads[0] ? n : 1);
    dev.publishUsed();
    h.k.hardirq(0, () => h.driver.skbRecvDone());
    h.runFor(ms(1));
  }

  it("receive a frame over num_buffers buffers as one skb, coalescing slices of one page", () => {
    const h = idleGuest("mergeable", MAINLINE);
    const consumed = h.driver.stats.buffersConsumed;
    receiveMultiBuffer(h, 7000, 5);
    expect(h.driver.stats.buffersConsumed).toBe(consumed + 5);
    expect(h.driver.stats.rxPackets).toBe(1);
    const skb = h.delivered.at(-1)!;
    expect(skb.len).toBe(7000);
    // napi_alloc_skb's kmalloc-512 head holds ETH_HLEN; the five adjacent slices of one order-3
    // page make one fragment with one reference.
    expect(skb).toMatchObject({ frags: 0, pageRefs: 1, truesize: 512 + 256 + 5 * 1536 });
    expect(m61(h).avgPktLen).toBe(7000);
    h.mm.checkInvariant();
  });

  it("grow with the average packet length, up to a page", () => {
    const h = idleGuest("mergeable", MAINLINE);
    const before = m61(h).mergeableBufLen();
    receiveMultiBuffer(h, 60000, Math.ceil((12 + 60000) / 1536));
    const grown = m61(h).mergeableBufLen();
    expect(before).toBe(1536);
    // The first sample sets the average: 60000, clamped to PAGE_SIZE - hdr_len, plus hdr_len.
    expect(grown).toBe(4096);
    // The refill after that frame posts buffers of the new size.
    const truesizes = new Set<number>();
    m61(h).forEachPostedSlice((_p, _o, ts) => truesizes.add(ts));
    expect([...truesizes].some((ts) => ts >= grown)).toBe(true);
  });

  it("drop a frame whose further buffers have not arrived, putting what it took", () => {
    const h = idleGuest("mergeable", MAINLINE);
    const dev = h.sys.device;
    const packets = h.sys.packets;
    const pkt = packets.alloc();
    packets.wireLen[pkt] = 3000;
    packets.flow[pkt] = h.sys.flows.length;
    const head = dev.popChain();
    dev.addUsed(head, dev.chain.write(1536));
    h.host.packetAtHead[head] = pkt;
    h.driver.env.numBuffersAt = () => 2;
    const before = postedRefs(h).refs;
    dev.publishUsed();
    h.k.hardirq(0, () => h.driver.skbRecvDone());
    h.runFor(ms(1));
    expect(h.delivered).toHaveLength(0);
    expect(h.driver.stats.rxLengthErrors).toBe(1);
    expect(h.driver.stats.rxDroppedNoMem).toBe(1);
    expect(postedRefs(h).refs).toBe(before - 1);
    h.mm.checkInvariant();
  });
});

describe("big buffers as 6.1", () => {
  it("chain MAX_SKB_FRAGS + 1 = 18 pages; a full frame gets build_skb around its first page", () => {
    const h = idleGuest("big", MAINLINE);
    expect(h.mm.ownerCount(OWNER_RX_RING)).toBe(h.driver.num * 18);
    const pages = h.driver.pagesCount;
    h.injectFrame(1514);
    h.runFor(ms(1));
    expect(h.delivered.at(-1)).toMatchObject({ len: 1514, frags: 1, pageRefs: 0, truesize: 4096 + 256 });
    expect(h.driver.pagesCount - pages).toBe(17);
    // A frame with no room for skb_shared_info behind it: napi_alloc_skb takes ETH_HLEN, pages the rest.
    h.injectFrame(10000);
    h.runFor(ms(1));
    expect(h.delivered.at(-1)).toMatchObject({ len: 10000, frags: 3, truesize: 512 + 256 + 3 * 4096 });
    expect(h.mm.ownerCount(OWNER_DRIVER_LIST)).toBe(h.driver.pagesCount);
  });
});

describe("the ring of each version", () => {
  it("mainline publishes avail->idx with every buffer, v3.2 and mainline-3.2buf at kick", () => {
    expect(idleGuest("small", MAINLINE).vq.availPerAdd).toBe(true);
    expect(idleGuest("small", { driver: "v3.2" }).vq.availPerAdd).toBe(false);
    expect(idleGuest("small", { driver: "mainline-3.2buf" }).vq.availPerAdd).toBe(false);
  });
});
