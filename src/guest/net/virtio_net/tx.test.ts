/**
 * The transmit path through the whole system: ACK skbs on the tx virtqueue, the queue stopped and
 * woken on ring space, skbs freed only after the host used them, the qdisc's bound, allocation
 * failures on tcp_send_ack's site, and 3.2's reaping against 6.1's napi_tx.
 */
import { describe, expect, it } from "vitest";
import { ms } from "../../../sim/time.ts";
import { PKT_ACK } from "../../../net/packet.ts";
import { GFP_KERNEL } from "../../mm/gfp.ts";
import { ALLOC_SITE_TCP_SEND_ACK, ALLOC_SITE_TCP_SENDMSG } from "../mm-port.ts";
import { DriverHarness, SMALL_GUEST } from "./testing.ts";
import { TX_STOP_THRESHOLD } from "./tx.ts";

const TX_RING = 32;
const QDISC = 8;
/** The harness sends ACKs without skbs unless told otherwise. */
const ACK_SKBS = "guest.tcp.ackSkbs=true";
const SMALL_TX = [ACK_SKBS, `guest.driver.txRingSize=${TX_RING}`, `guest.driver.txQueueLen=${QDISC}`];

/** A harness whose host ignores tx kicks until `release` (vhost's worker never runs handle_tx). */
function blockedHost(driver: string, set: readonly string[] = SMALL_TX) {
  const h = new DriverHarness(SMALL_GUEST, { driver, set, checkInvariants: true });
  const host = h.sys.host;
  const kick = host.guestKickTx.bind(host);
  let blocked = true;
  host.guestKickTx = () => {
    if (!blocked) kick();
  };
  return {
    h,
    tx: h.sys.tx,
    release() {
      blocked = false;
      kick();
    },
  };
}

/**
 * A thread that transmits `n` frames through the general entry (allocTxSkb with GFP_KERNEL, then
 * xmit): old ACKs of flow 0 (the sender ignores them), data-segment sized.
 */
function transmitFrames(h: DriverHarness, n: number): void {
  const { k, stack, packets } = h.sys;
  k.spawn("uploader", 0, function* () {
    for (let i = 0; i < n; i++) {
      const skb = yield* stack.allocTxSkb(DATA_BYTES, GFP_KERNEL, ALLOC_SITE_TCP_SENDMSG);
      expect(skb).toBeGreaterThanOrEqual(0);
      const p = packets.alloc();
      packets.kind[p] = PKT_ACK;
      packets.flow[p] = 0;
      packets.ack[p] = 0;
      packets.wireLen[p] = DATA_BYTES;
      stack.xmit(p, skb);
      yield k.cpu(1000);
    }
  });
}
/** A full-sized frame: 1448 bytes of TCP payload and its headers. */
const DATA_BYTES = 1514;
const FRAMES = 40;

describe("tx virtqueue", () => {
  it.each(["v3.2", "mainline"])(
    "%s: stops the queue short of a full ring, drops at the qdisc's bound, wakes when the host used them",
    (driver) => {
      const { h, tx, release } = blockedHost(driver);
      h.runTo(ms(20));
      transmitFrames(h, FRAMES);
      h.runTo(ms(40));
      // With indirect descriptors each skb takes one descriptor: the queue stops once fewer than
      // 2 + MAX_SKB_FRAGS are free, and the qdisc then holds tx_queue_len skbs.
      expect(tx.stopped).toBe(true);
      expect(tx.stats.txRingFull).toBe(1);
      const onRing = TX_RING - TX_STOP_THRESHOLD + 1;
      expect(tx.stats.outstanding).toBe(onRing);
      expect(h.sys.txVq.numFree).toBe(TX_STOP_THRESHOLD - 1);
      expect(tx.qdiscQueued).toBe(QDISC);
      expect(tx.stats.qdiscDrops).toBe(FRAMES + h.sys.stack.acksOut - onRing - QDISC);
      // Nothing the host has not used is freed.
      expect(tx.stats.txPackets).toBe(0);
      release();
      expect(h.runUntil(() => tx.stats.txQueueWakes > 0 && tx.qdiscQueued === 0, ms(200))).toBe(true);
      expect(tx.stopped).toBe(false);
      h.runFor(ms(50));
      // Everything the qdisc held reached the host; the ring's skbs were freed as it used them.
      expect(h.sys.host.txPacketsCount).toBe(h.sys.stack.acksOut + FRAMES - tx.stats.qdiscDrops);
      expect(tx.stats.txPackets).toBe(h.sys.host.txPacketsCount - tx.stats.outstanding);
    },
  );

  it("frees a tx skb only once the host has used its buffer (outstanding = on the ring)", () => {
    const { h, tx, release } = blockedHost("v3.2", [ACK_SKBS]);
    h.runTo(ms(50));
    const sent = h.sys.stack.acksOut;
    expect(sent).toBeGreaterThan(0);
    expect(tx.stats.txPackets).toBe(0);
    expect(tx.stats.outstanding).toBe(sent);
    expect(h.sys.txVq.numFree).toBe(h.sys.txVq.size - sent);
    // Every live skb holds its skbuff_head object: the ACKs' heads are still allocated.
    expect(h.mm.skbuffHeadCache.inuse).toBe(h.sys.skbs.live);
    release();
    h.runFor(ms(100));
    expect(tx.stats.txPackets).toBeGreaterThan(0);
    expect(tx.stats.outstanding).toBe(h.sys.stack.acksOut - tx.stats.txPackets);
    expect(h.mm.skbuffHeadCache.inuse).toBe(h.sys.skbs.live);
  });

  it("3.2 reaps only in start_xmit with tx interrupts off; 6.1's napi_tx takes interrupts and reaps from NAPI", () => {
    const run = (driver: string) => {
      const h = new DriverHarness(SMALL_GUEST, { driver, set: [ACK_SKBS] });
      h.runTo(ms(300));
      return { h, tx: h.sys.tx };
    };
    const old = run("v3.2");
    // The one interrupt before skb_xmit_done first disabled them; the ring never filled.
    expect(old.tx.stats.interrupts).toBeLessThanOrEqual(1);
    expect(old.tx.stats.txRingFull).toBe(0);
    // The last skb sent stays on the ring until the next start_xmit.
    expect(old.tx.stats.outstanding).toBeGreaterThan(0);
    const now = run("mainline");
    expect(now.tx.stats.interrupts).toBeGreaterThan(10);
    expect(now.tx.napi!.polls).toBeGreaterThan(10);
    expect(now.tx.stats.txPackets).toBeGreaterThan(100);
  });

  it("defers ACKs whose skb cannot be allocated (failslab on tcp_send_ack) and sends them later", () => {
    const h = new DriverHarness(
      {
        ...SMALL_GUEST,
        faults: {
          alloc: [
            {
              type: "failslab",
              probability: 100,
              times: -1,
              sites: ["tcp_send_ack"],
              at: "100ms",
              duration: "300ms",
            },
          ],
        },
      },
      { driver: "v3.2", set: [ACK_SKBS], checkInvariants: true },
    );
    const rx = h.sys.stack.receivers[0]!;
    h.runTo(ms(100));
    const before = rx.counters.acksSent;
    h.runTo(ms(400));
    expect(rx.counters.ackAllocFailures).toBeGreaterThan(0);
    expect(rx.counters.acksSent).toBe(before);
    // Each failure is the head's kmem_cache_alloc (the data kmalloc is never reached).
    expect(h.sys.mm.faults!.all[0]!.injectedBySite[ALLOC_SITE_TCP_SEND_ACK]).toBe(
      rx.counters.ackAllocFailures,
    );
    h.runTo(ms(700));
    expect(rx.counters.acksSent).toBeGreaterThan(before);
  });
});

describe("guest.tcp.ackSkbs=false", () => {
  it("sends ACKs straight to the network without skbs, leaving the tx virtqueue empty", () => {
    const h = new DriverHarness(SMALL_GUEST, { driver: "v3.2" });
    h.runTo(ms(100));
    expect(h.sys.stack.acksOut).toBeGreaterThan(100);
    expect(h.sys.txVq.kicks).toBe(0);
    expect(h.sys.host.txPacketsCount).toBe(0);
    // All but those still in flight reached the sender.
    expect(h.sys.senders[0]!.counters.acksIn).toBeGreaterThan(h.sys.stack.acksOut - 10);
  });
});
