/**
 * The guest's TCP sender on the memory model: the write queue and its memory, the send buffer,
 * clones that fail, and ACKs from a remote receiver over a link.
 */
import { describe, expect, it } from "vitest";
import { Link } from "../../../net/link.ts";
import { PacketPool } from "../../../net/packet.ts";
import { RemoteReceiver } from "../../../net/remote-receiver.ts";
import { MmAdapter } from "../../../run/system.ts";
import { ms, sec } from "../../../sim/time.ts";
import { mmFixture, runInThread } from "../../mm/fixture.ts";
import { GFP_ATOMIC } from "../../mm/gfp.ts";
import type { KernelCode } from "../../sched/kernel.ts";
import { ALLOC_SITE_TCP_SENDMSG } from "../mm-port.ts";
import { SkbPool } from "../skb.ts";
import { GuestTcpSender, TCP_SNDMEM, TCP_SNDMEM_6_1, type TxSkbPort } from "./sender.ts";

const MSS = 1448;
/** alloc_skb_fclone(1448 + MAX_TCP_HEADER): kmalloc-4096 plus the sk_buff. */
const SEG_TRUESIZE = 4096 + 256;

/**
 * A guest sender whose clones go over a 10 ms link to a remote receiver (or are lost while
 * `wire.drop`), the receiver's ACKs back over another 10 ms into the guest's timer softirq. The
 * host "uses" each clone as it is sent (frees it). `wire.failClones` makes every skb_clone fail.
 */
function world(sender61 = false) {
  const f = mmFixture({ memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 });
  const { sim, k, mm } = f;
  const skbs = new SkbPool(new MmAdapter(mm), new Int32Array(mm.nPages).fill(-1));
  const packets = new PacketPool(256);
  const wire = { drop: false, failClones: false };
  let snd: GuestTcpSender | null = null;
  const back = new Link(
    sim,
    packets,
    { name: "acks", rateBps: 1e9, delayNs: ms(10) },
    {
      receive: (p) => k.timerSoftirq(0, () => snd!.ackReceived(p)),
    },
  );
  const rr = new RemoteReceiver(sim, packets, back, { flow: 0, handshakeRttNs: ms(20) });
  const out = new Link(sim, packets, { name: "data", rateBps: 1e9, delayNs: ms(10) }, rr);
  const port: TxSkbPort = {
    allocTxSkb: (size, gfp, site): KernelCode<number> => skbs.allocFclone(size, gfp, site),
    truesize: (skb) => skbs.truesize[skb]!,
    cloneTxSkb: (skb) => (wire.failClones ? -1 : skbs.clone(skb, GFP_ATOMIC, ALLOC_SITE_TCP_SENDMSG)),
    xmitData: (pkt, clone) => {
      skbs.kfree(clone);
      if (wire.drop) packets.free(pkt);
      else out.receive(pkt);
    },
    freeTxSkb: (skb) => skbs.kfree(skb),
  };
  snd = new GuestTcpSender(k, port, sim, packets, {
    flow: 0,
    hz: 250,
    handshakeRttNs: ms(20),
    wmemDefault: 16384,
    wmemMax: 4 << 20,
    sender61,
    copyPerByte: 0,
    rng: sim.rng("test.vm_wait"),
    timerContext: (expire) => k.timerSoftirq(0, expire),
  });
  snd.start(0);
  const sender = snd;
  const send = (bytes: number) => runInThread(k, "writer", () => sender.sendmsg(bytes));
  return { ...f, skbs, snd: sender, rr, wire, send };
}

describe("guest TCP sender", () => {
  it("sizes sk_sndbuf for TCP_INIT_CWND segments and blocks the writer once sk_wmem_queued reaches it", () => {
    const w = world();
    w.wire.drop = true;
    const r = w.send(40 * MSS);
    w.sim.run(ms(100));
    // tcp_fixup_sndbuf: 10 × SKB_TRUESIZE(1460 + 304) = 24040 bytes, 6 skbs of 4352 bytes.
    expect(w.snd.sndbuf).toBe(10 * TCP_SNDMEM);
    expect(r.done).toBe(false);
    expect(w.snd.counters.sndbufWaits).toBe(1);
    expect(w.snd.queuedSkbs).toBe(6);
    expect(w.snd.wmemQueued).toBe(6 * SEG_TRUESIZE);
  });

  it("on 6.1's rules sizes sk_sndbuf with tcp_sndbuf_expand: twice TCP_INIT_CWND power-of-two heads", () => {
    expect(TCP_SNDMEM_6_1).toBe(4096 + 256);
    const w = world(true);
    w.wire.drop = true;
    const r = w.send(40 * MSS);
    w.sim.run(ms(100));
    // 2 × max(TCP_INIT_CWND, snd_cwnd, reordering + 1) × 4352 = 87040 bytes: 20 skbs of 4352.
    expect(w.snd.sndbuf).toBe(2 * 10 * TCP_SNDMEM_6_1);
    expect(r.done).toBe(false);
    expect(w.snd.counters.sndbufWaits).toBe(1);
    expect(w.snd.queuedSkbs).toBe(20);
  });

  it("on 6.1's rules grows sk_sndbuf to twice cwnd's segments as ACKs free the queue", () => {
    const w = world(true);
    const r = w.send(400 * MSS);
    w.sim.run(sec(5));
    expect(r.done).toBe(true);
    expect(w.snd.sndbuf).toBeGreaterThan(2 * 10 * TCP_SNDMEM_6_1);
    expect(w.snd.sndbuf % (2 * TCP_SNDMEM_6_1)).toBe(0);
  });

  it("holds each skb, charged to the allocator, until tcp_clean_rtx_queue frees it on the ACK", () => {
    const w = world();
    w.wire.drop = true;
    w.send(4 * MSS);
    w.sim.run(ms(50));
    // Sent (the clones are gone) but not acknowledged: the originals stay queued and allocated.
    expect(w.snd.tcpCounters.outSegs).toBe(4);
    expect(w.skbs.live).toBe(4);
    expect(w.mm.kmallocCache(4096).inuse).toBe(4);
    expect(w.snd.wmemQueued).toBe(4 * SEG_TRUESIZE);
    // The retransmission after the RTO reaches the peer; its ACK frees everything.
    w.wire.drop = false;
    w.sim.run(sec(3));
    expect(w.rr.bytesReceived).toBe(4 * MSS);
    expect(w.snd.tcpCounters.rtoExpiries).toBeGreaterThan(0);
    expect(w.snd.counters.skbsAcked).toBe(4);
    expect(w.skbs.live).toBe(0);
    expect(w.mm.kmallocCache(4096).inuse).toBe(0);
    expect(w.mm.skbuffHeadCache.inuse).toBe(0);
    expect(w.snd.wmemQueued).toBe(0);
  });

  it("wakes the blocked writer when ACKs free the queue, and grows sk_sndbuf with cwnd", () => {
    const w = world();
    const r = w.send(400 * MSS);
    w.sim.run(sec(5));
    expect(r.done).toBe(true);
    expect(r.value).toBe(400 * MSS);
    expect(w.snd.counters.sndbufWaits).toBeGreaterThan(0);
    expect(w.snd.sndbuf).toBeGreaterThan(10 * TCP_SNDMEM);
    w.sim.run(sec(6));
    expect(w.rr.bytesReceived).toBe(400 * MSS);
    expect(w.skbs.live).toBe(0);
  });

  it("retries a retransmission whose clone failed after min(RTO, HZ/2), without backing off", () => {
    const w = world();
    w.wire.drop = true;
    w.send(3 * MSS);
    w.sim.run(ms(50));
    expect(w.snd.tcpCounters.outSegs).toBe(3);
    w.wire.failClones = true;
    w.sim.run(sec(3));
    // An RTO of about 200 ms that never doubles: a retry every ~200 ms (doubling would give 4).
    const c = w.snd.tcpCounters;
    expect(c.retransSegs).toBe(0);
    expect(c.xmitFailures).toBeGreaterThanOrEqual(10);
    w.wire.failClones = false;
    w.wire.drop = false;
    w.sim.run(sec(4));
    expect(w.rr.bytesReceived).toBe(3 * MSS);
  });

  it("leaves data queued when skb_clone fails and sends it once clones succeed again", () => {
    const w = world();
    w.wire.failClones = true;
    w.send(3 * MSS);
    w.sim.run(ms(100));
    expect(w.snd.tcpCounters.outSegs).toBe(0);
    expect(w.snd.tcpCounters.xmitFailures).toBeGreaterThan(0);
    expect(w.snd.queuedSkbs).toBe(3);
    // Nothing counts as in flight: snd_nxt did not move past what never left.
    expect(w.snd.tcp.packetsOut).toBe(0);
    // tcp_check_probe_timer's probe0 timer retries the head.
    w.wire.failClones = false;
    w.sim.run(sec(3));
    expect(w.rr.bytesReceived).toBe(3 * MSS);
    expect(w.snd.queuedSkbs).toBe(0);
    expect(w.skbs.live).toBe(0);
  });
});
