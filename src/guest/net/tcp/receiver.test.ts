import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PKT_DATA, PacketPool } from "../../../net/packet.ts";
import { Simulator } from "../../../sim/simulator.ts";
import { Jiffies, ms, sec } from "../../../sim/time.ts";
import {
  type AckSink,
  type SkbAllocator,
  type SkbReleaser,
  TCP_MAX_QUICKACKS,
  TcpReceiver,
  type TcpReceiverOptions,
  tcpAtoMin,
  tcpWinFromSpace,
} from "./receiver.ts";
import { TcpMem } from "./tcp-mem.ts";

const MSS = 1448;

interface Ack {
  t: number;
  ack: number;
  wnd: number;
  sacks: [number, number][];
  /** TSval */
  ts: number;
  /** Frame bytes on the wire. */
  wire: number;
}

class Harness implements AckSink, SkbReleaser, SkbAllocator {
  readonly sim = new Simulator({ seed: 1 });
  readonly pool = new PacketPool(64);
  readonly acks: Ack[] = [];
  readonly freed: number[] = [];
  /** skbs tcp_collapse allocated (ids from 1e6), and whether its allocations fail. */
  readonly allocated: number[] = [];
  failAlloc = false;
  readonly rx: TcpReceiver;
  private readonly deliverEvent: number;

  constructor(
    opts: Partial<TcpReceiverOptions> = {},
    private readonly truesize = 2304,
    private readonly readOnArrival = true,
    collapse = false,
  ) {
    this.rx = new TcpReceiver(this.sim, this.pool, this, {
      flow: 0,
      release: this,
      ...(collapse ? { alloc: this } : {}),
      ...opts,
    });
    this.deliverEvent = this.sim.register("deliver", (seg) => this.deliver(seg));
  }

  sendAck(p: number): void {
    const sacks: [number, number][] = [];
    for (let i = 0; i < this.pool.sackCount[p]!; i++) {
      sacks.push([this.pool.sackStart[p * 4 + i]! / MSS, this.pool.sackEnd[p * 4 + i]! / MSS]);
    }
    this.acks.push({
      t: this.sim.now,
      ack: this.pool.ack[p]! / MSS,
      wnd: this.pool.wnd[p]!,
      sacks,
      ts: this.pool.tsVal[p]!,
      wire: this.pool.wireLen[p]!,
    });
    this.pool.free(p);
  }

  freeSkb(skb: number): void {
    this.freed.push(skb);
  }

  allocCollapseSkb(): number {
    if (this.failAlloc) return -1;
    this.allocated.push(1e6 + this.allocated.length);
    return this.allocated[this.allocated.length - 1]!;
  }

  /** Every skb the receiver got or allocated came back exactly once, or is still queued (n). */
  expectEachSkbFreedOnce(received: number, stillQueued: number): void {
    expect(new Set(this.freed).size).toBe(this.freed.length);
    expect(this.freed.length + stillQueued).toBe(received + this.allocated.length);
  }

  /** Segment `seg` arrives now; its skb id is the segment number. */
  deliver(seg: number): void {
    const p = this.pool.alloc();
    this.pool.kind[p] = PKT_DATA;
    this.pool.seq[p] = seg * MSS;
    this.pool.len[p] = MSS;
    this.pool.tsVal[p] = seg;
    this.rx.receive(p, this.truesize, seg);
    if (this.readOnArrival) this.rx.read(Number.POSITIVE_INFINITY);
  }

  deliverAt(t: number, seg: number): void {
    this.sim.at(t, this.deliverEvent, seg);
  }

  get lastAck(): Ack {
    return this.acks[this.acks.length - 1]!;
  }
}

/** A receiver whose ACK skbs come from an allocator that fails its next `failures` calls. */
class AckAllocHarness extends Harness {
  failures = 0;
  allocAckSkb(): number {
    if (this.failures === 0) return 0;
    this.failures--;
    return -1;
  }
}

describe("ACK skb allocation failure (tcp_send_ack, v3.2)", () => {
  it("defers the ACK to the delayed-ACK timer TCP_DELACK_MAX later, which sends it", () => {
    const hz = 250;
    const h = new AckAllocHarness({ hz });
    h.failures = 1;
    const t0 = ms(10) + 777;
    h.deliverAt(t0, 0);
    h.sim.run(ms(100));
    // The first segment is quick-acked, but its skb could not be allocated: no ACK yet.
    expect(h.acks).toHaveLength(0);
    expect(h.rx.counters.ackAllocFailures).toBe(1);
    h.sim.run(ms(400));
    expect(h.acks).toHaveLength(1);
    expect(h.lastAck.ack).toBe(1);
    // inet_csk_reset_xmit_timer(ICSK_TIME_DACK, TCP_DELACK_MAX): HZ/5 jiffies, not the ATO.
    expect(h.lastAck.t).toBe(new Jiffies(hz).timerExpiry(t0, hz / 5));
    expect(h.rx.counters.delayedAcks).toBe(1);
  });

  it("retries from the timer again while the allocation keeps failing", () => {
    const hz = 1000;
    const h = new AckAllocHarness({ hz });
    h.failures = 3;
    h.deliverAt(0, 0);
    h.sim.run(sec(1));
    expect(h.rx.counters.ackAllocFailures).toBe(3);
    expect(h.acks).toHaveLength(1);
    // One failure at arrival, two more from the timer, each re-arming TCP_DELACK_MAX = 200 ms.
    expect(h.lastAck.t).toBeGreaterThanOrEqual(ms(600));
    expect(h.lastAck.t).toBeLessThan(ms(610));
  });
});

describe("ACK policy", () => {
  it("quick-acks every segment at first, then ACKs every second full segment", () => {
    const h = new Harness();
    let wakeups = 0;
    h.rx.onDataReady = () => wakeups++;
    for (let i = 0; i < 100; i++) h.deliverAt(ms(i), i);
    h.sim.run(ms(100));
    expect(wakeups).toBe(100);
    const steps = h.acks.map((a, i) => a.ack - (i === 0 ? 0 : h.acks[i - 1]!.ack));
    // tcp_incr_quickack credit from the initial 10-MSS window: min(rcv_wnd / 2·rcv_mss, 16)
    const initialQuick = Math.min(Math.floor((10 * MSS) / (2 * MSS)), TCP_MAX_QUICKACKS);
    expect(steps.slice(0, initialQuick)).toEqual(new Array(initialQuick).fill(1));
    // once the window stops growing, one ACK per two segments
    const tail = steps.slice(-20);
    expect(tail).toEqual(new Array(20).fill(2));
    expect(h.lastAck.ack).toBe(100);
    expect(h.rx.counters.delayedAcks).toBe(0);
  });

  it("takes a GSO frame's rcv_mss from gso_size, so each frame of several MSS is ACKed at once", () => {
    const h = new Harness();
    for (let i = 0; i < 100; i++) h.deliverAt(ms(i), i);
    h.sim.run(ms(100));
    const before = h.acks.length;
    // Ten TSO frames of 4 segments (gso_size = MSS), one per ms, read on arrival.
    for (let f = 0; f < 10; f++) {
      h.sim.run(ms(101 + f));
      const p = h.pool.alloc();
      h.pool.kind[p] = PKT_DATA;
      h.pool.seq[p] = (100 + 4 * f) * MSS;
      h.pool.len[p] = 4 * MSS;
      h.pool.gsoSize[p] = MSS;
      h.pool.tsVal[p] = 100 + f;
      h.rx.receive(p, 4 * 4096 + 1280, 1000 + f);
      h.rx.read(Number.POSITIVE_INFINITY);
    }
    h.sim.run(ms(120));
    // __tcp_ack_snd_check: more than one rcv_mss (= gso_size, not 4·MSS) unacknowledged → ACK now.
    const steps = h.acks.slice(before).map((a, i, all) => a.ack - (i === 0 ? 100 : all[i - 1]!.ack));
    expect(steps).toEqual(new Array(10).fill(4));
    expect(h.rx.counters.delayedAcks).toBe(0);
  });

  it("acknowledges a lone segment from the delayed-ACK timer after TCP_DELACK_MIN", () => {
    const hz = 250;
    const h = new Harness({ hz });
    for (let i = 0; i < 60; i++) h.deliverAt(ms(i), i);
    const lone = ms(500) + 1234;
    h.deliverAt(lone, 60);
    h.sim.run(ms(1000));
    const last = h.lastAck;
    expect(last.ack).toBe(61);
    expect(last.t).toBe(new Jiffies(hz).timerExpiry(lone, tcpAtoMin(hz)));
    expect(last.t - lone).toBeGreaterThan(ms(36));
    expect(last.t - lone).toBeLessThanOrEqual(ms(40));
    expect(h.rx.counters.delayedAcks).toBe(1);
  });

  it("runs the delayed-ACK timer inside the timer context it is given", () => {
    let viaTimer = 0;
    let expiries = 0;
    const h: Harness = new Harness({
      timerContext: (expire) => {
        expiries++;
        const before = h.acks.length;
        expire();
        viaTimer += h.acks.length - before;
      },
    });
    for (let i = 0; i < 60; i++) h.deliverAt(ms(i), i);
    h.deliverAt(ms(500), 60);
    h.sim.run(ms(1000));
    expect(h.lastAck.ack).toBe(61);
    expect(viaTimer).toBe(h.rx.counters.delayedAcks);
    expect(viaTimer).toBeGreaterThanOrEqual(1);
    expect(expiries).toBeGreaterThanOrEqual(viaTimer);
  });

  it("stamps each ACK with tcp_time_stamp, the jiffies when it is sent", () => {
    const h = new Harness({ delayedAck: false });
    const times = [0, ms(1), ms(5), ms(5) + 1, ms(13), sec(2)];
    times.forEach((t, seg) => h.deliverAt(t, seg));
    h.sim.run(sec(3));
    const jiffies = Jiffies.of(250);
    expect(h.acks.map((a) => a.ts)).toEqual(times.map((t) => jiffies.at(t)));
    expect(new Set(h.acks.map((a) => a.ts)).size).toBeGreaterThan(3);
  });

  it("ACKs every segment with delayed ACKs off", () => {
    const h = new Harness({ delayedAck: false });
    for (let i = 0; i < 50; i++) h.deliverAt(ms(i), i);
    h.sim.run(ms(100));
    expect(h.acks.map((a) => a.ack)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
});

describe("out-of-order data", () => {
  it("fits four SACK blocks in an ACK without timestamps: 54-byte frames, 36 bytes of SACK option, no TSval", () => {
    const h = new Harness({ timestamps: false });
    for (const [i, seg] of [0, 2, 4, 6, 8].entries()) h.deliverAt(ms(10 * (i + 1)), seg);
    h.sim.run(ms(100));
    const last = h.lastAck;
    expect(last.sacks).toEqual([
      [8, 9],
      [6, 7],
      [4, 5],
      [2, 3],
    ]);
    expect(last.wire).toBe(54 + 4 + 4 * 8);
    expect(h.acks.every((a) => a.ts === 0)).toBe(true);
    // With the option, the fourth block does not fit, and each ACK is 12 bytes longer.
    const ts = new Harness();
    for (const [i, seg] of [0, 2, 4, 6, 8].entries()) ts.deliverAt(ms(10 * (i + 1)), seg);
    ts.sim.run(ms(100));
    expect(ts.lastAck.sacks.length).toBe(3);
    expect(ts.lastAck.wire).toBe(66 + 4 + 3 * 8);
  });

  it("offers its first window in segments of advmss: 1448 with timestamps, 1460 without", () => {
    expect(new Harness().rx.window).toBe(10 * 1448);
    expect(new Harness({ timestamps: false }).rx.window).toBe(10 * 1460);
  });

  it("ACKs at once with SACK blocks, most recent first, three on the wire", () => {
    const h = new Harness();
    const order = [0, 2, 3, 5, 7, 9, 4, 1];
    order.forEach((seg, i) => {
      h.deliverAt(ms(10 * i), seg);
    });
    h.sim.run(ms(100));
    // every segment after the first hole is acknowledged immediately
    const seen = h.acks.filter((a) => a.t >= ms(10));
    expect(seen.map((a) => a.t)).toEqual(order.slice(1).map((_, i) => ms(10 * (i + 1))));
    expect(seen.map((a) => [a.ack, a.sacks])).toEqual([
      [1, [[2, 3]]],
      [1, [[2, 4]]],
      [
        1,
        [
          [5, 6],
          [2, 4],
        ],
      ],
      [
        1,
        [
          [7, 8],
          [5, 6],
          [2, 4],
        ],
      ],
      // four blocks are remembered, three fit beside the timestamp option
      [
        1,
        [
          [9, 10],
          [7, 8],
          [5, 6],
        ],
      ],
      // 4 joins [2,4) and [5,6): the merged block moves to the front
      [
        1,
        [
          [2, 6],
          [9, 10],
          [7, 8],
        ],
      ],
      // the hole is filled: rcv_nxt jumps to 6 and the blocks below it are gone
      [
        6,
        [
          [9, 10],
          [7, 8],
        ],
      ],
    ]);
    expect(h.rx.counters.ofoQueued).toBe(6);
  });

  it("frees the queued segments a longer out-of-order segment covers as a whole", () => {
    const h = new Harness({}, 2304, false);
    /** A segment of `n` MSS from segment `seg` on, skb id `skb`. */
    const arrive = (seg: number, n: number, skb: number) => {
      const p = h.pool.alloc();
      h.pool.kind[p] = PKT_DATA;
      h.pool.seq[p] = seg * MSS;
      h.pool.len[p] = n * MSS;
      h.rx.receive(p, 2304, skb);
    };
    arrive(0, 1, 100);
    arrive(2, 1, 102);
    arrive(3, 1, 103);
    arrive(5, 2, 105);
    arrive(9, 1, 109);
    expect(h.rx.ofoSegments).toBe(4);
    // [2, 7) holds 2 and 3 whole, and 5 ([5, 7)) whole; 9 is past it.
    arrive(2, 5, 202);
    expect(h.freed).toEqual([102, 103, 105]);
    expect(h.rx.ofoSegments).toBe(2);
    expect(h.rx.rmemAlloc).toBe(3 * 2304);
    // Filling the hole delivers [1, 7) and leaves 9 out of order.
    arrive(1, 1, 101);
    expect(h.rx.nextExpected / MSS).toBe(7);
    expect(h.rx.ofoSegments).toBe(1);
  });

  it("drops duplicates and answers them at once", () => {
    const h = new Harness();
    h.deliverAt(ms(0), 0);
    h.deliverAt(ms(1), 1);
    h.deliverAt(ms(100), 0);
    h.sim.run(ms(200));
    expect(h.rx.counters.delayedAckLost).toBe(1);
    expect(h.lastAck.t).toBe(ms(100));
    expect(h.rx.counters.bytesDelivered).toBe(2 * MSS);
  });
});

/** A sender that only sends what the last ACK allows, one segment per ms. */
function fillWindow(h: Harness, from: number, until: number): number {
  let next = from;
  const step = h.sim.register("fill", () => {
    const a = h.acks.length ? h.lastAck : { ack: 0, wnd: 10 * MSS };
    if ((next + 1) * MSS <= a.ack * MSS + a.wnd) h.deliver(next++);
    if (h.sim.now + ms(1) <= until) h.sim.after(ms(1), step);
  });
  h.sim.at(h.sim.now, step);
  h.sim.run(until);
  return next;
}

describe("receive window and memory", () => {
  it("shrinks the window as unread data accumulates, never moves its right edge left, and reopens on read", () => {
    // skbs of at most 4/3 of their payload: the window closes before memory runs out
    const h = new Harness({ userLocked: true }, 1800, false);
    const sent = fillWindow(h, 0, ms(2000));
    const edges = h.acks.map((a) => a.ack * MSS + a.wnd);
    for (let i = 1; i < edges.length; i++) expect(edges[i]!).toBeGreaterThanOrEqual(edges[i - 1]!);
    const wnds = h.acks.map((a) => a.wnd);
    const peak = wnds.indexOf(Math.max(...wnds));
    for (let i = peak + 1; i < wnds.length; i++) expect(wnds[i]!).toBeLessThanOrEqual(wnds[i - 1]!);
    expect(h.lastAck.wnd).toBeLessThan(MSS);
    expect(h.rx.counters.rmemDrops).toBe(0);
    expect(h.rx.readableBytes).toBe(sent * MSS);
    expect(h.rx.rmemAlloc).toBe(sent * 1800);
    const acksBefore = h.acks.length;
    const closed = h.lastAck.wnd;
    expect(h.rx.read(Number.POSITIVE_INFINITY)).toBe(sent * MSS);
    // tcp_cleanup_rbuf: the read at least doubled the window, so an update goes out at once
    expect(h.acks.length).toBe(acksBefore + 1);
    expect(h.lastAck.wnd).toBeGreaterThanOrEqual(2 * closed);
    expect(h.lastAck.wnd).toBeGreaterThan(tcpWinFromSpace(87380) / 2);
    expect(h.rx.rmemAlloc).toBe(0);
    expect(h.freed.length).toBe(sent);
  });

  it("drops segments that do not fit a locked sk_rcvbuf, and frees their skbs", () => {
    const h = new Harness({ userLocked: true }, 2304, false);
    const sent = fillWindow(h, 0, ms(2000));
    const c = h.rx.counters;
    // with adv_win_scale = 2 the window assumes 4/3 overhead; 2304-byte skbs need more
    expect(c.rmemDrops).toBeGreaterThan(0);
    expect(c.pruneCalled).toBeGreaterThanOrEqual(c.rmemDrops);
    expect(c.rcvPruned).toBe(c.rmemDrops);
    expect(h.rx.rcvbuf).toBe(87380);
    expect(h.rx.rmemAlloc).toBeLessThanOrEqual(87380 + 2304);
    // the dropped segments were not acknowledged, and their skbs came back
    const queued = h.rx.readableBytes / MSS;
    expect(h.lastAck.ack).toBe(queued);
    expect(h.freed.length).toBe(sent - queued);
  });

  it("grows an unlocked sk_rcvbuf instead of dropping (tcp_clamp_window)", () => {
    const h = new Harness({}, 2304, false);
    fillWindow(h, 0, ms(2000));
    expect(h.rx.counters.rmemDrops).toBe(0);
    expect(h.rx.counters.pruneCalled).toBeGreaterThan(0);
    expect(h.rx.rcvbuf).toBeGreaterThan(87380);
  });

  it("collapses a full socket's bloated skbs into tight ones before it prunes (tcp_collapse)", () => {
    const h = new Harness({ userLocked: true }, 2304, false, true);
    const sent = fillWindow(h, 0, ms(2000));
    const c = h.rx.counters;
    expect(c.pruneCalled).toBeGreaterThan(0);
    expect(c.rcvCollapsed).toBeGreaterThan(0);
    expect(c.rmemDrops).toBe(0);
    expect(c.rcvPruned).toBe(0);
    // nothing was lost: every segment is readable, in collapsed skbs that fit sk_rcvbuf
    expect(h.rx.readableBytes).toBe(sent * MSS);
    expect(h.lastAck.ack).toBe(sent);
    expect(h.rx.rmemAlloc).toBeLessThanOrEqual(87380 + 2304);
    expect(h.rx.rmemAlloc).toBeLessThan(sent * 2304);
    // each copy is an order-0 skb of up to 3582 bytes (SKB_MAX_ORDER(130, 0)): two segments or more
    expect(h.allocated.length).toBeGreaterThan(0);
    expect(c.rcvCollapsed).toBeGreaterThan(h.allocated.length);
    expect(h.rx.read(Number.POSITIVE_INFINITY)).toBe(sent * MSS);
    expect(h.rx.rmemAlloc).toBe(0);
    h.expectEachSkbFreedOnce(sent, 0);
  });

  it("keeps the receive queue in order when it grows while wrapped around", () => {
    // tight skbs and a large locked buffer: hundreds of segments queue unread, no pruning
    const h = new Harness({ userLocked: true, rcvbuf: 1 << 20 }, 1800, false);
    for (let seg = 0; seg < 10; seg++) h.deliver(seg);
    // the head moves into the sixth skb, so the ring's later entries wrap past its end
    expect(h.rx.read(5 * MSS + 100)).toBe(5 * MSS + 100);
    const sent = fillWindow(h, 10, ms(2000));
    expect(sent).toBeGreaterThan(4 * 64);
    expect(h.rx.counters.pruneCalled).toBe(0);
    expect(h.rx.read(Number.POSITIVE_INFINITY)).toBe(sent * MSS - (5 * MSS + 100));
    expect(h.freed).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(h.rx.rmemAlloc).toBe(0);
  });

  it("prunes and drops when the collapse allocation fails", () => {
    const h = new Harness({ userLocked: true }, 2304, false, true);
    h.failAlloc = true;
    const sent = fillWindow(h, 0, ms(2000));
    const c = h.rx.counters;
    expect(c.collapseAllocFailures).toBeGreaterThan(0);
    expect(c.rcvCollapsed).toBe(0);
    expect(c.rcvPruned).toBeGreaterThan(0);
    expect(c.rmemDrops).toBe(c.rcvPruned);
    expect(h.rx.readableBytes).toBeLessThan(sent * MSS);
  });

  it("collapses the out-of-order queue run by run, keeping every byte", () => {
    // a window of 8 segments; skbs of 4000 bytes overfill the 16000-byte buffer with 5
    const h = new Harness({ userLocked: true, rcvbuf: 16000 }, 4000, false, true);
    // two runs behind two holes (segments 0 and 4)
    const segs = [1, 2, 3, 5, 6, 7];
    for (const s of segs) h.deliver(s);
    const c = h.rx.counters;
    expect(c.rcvCollapsed).toBeGreaterThan(0);
    expect(c.ofoPruned).toBe(0);
    expect(c.rmemDrops).toBe(0);
    // tight skbs only: each run became whole-page copies plus a remainder
    expect(h.rx.ofoSegments).toBeLessThan(segs.length);
    expect(h.lastAck.sacks).toEqual([
      [5, 8],
      [1, 4],
    ]);
    h.deliver(0);
    h.deliver(4);
    expect(h.rx.nextExpected).toBe(8 * MSS);
    expect(h.rx.read(Number.POSITIVE_INFINITY)).toBe(8 * MSS);
    h.expectEachSkbFreedOnce(segs.length + 2, 0);
  });

  it("stops growing sk_rcvbuf and clamps rcv_ssthresh under tcp_memory_pressure", () => {
    // a 16000-byte buffer whose first window of 4000-byte skbs overfills it: tcp_clamp_window
    const grown = new Harness({ rcvbuf: 16000 }, 4000, false);
    fillWindow(grown, 0, ms(2000));
    expect(grown.rx.counters.pruneCalled).toBeGreaterThan(0);
    expect(grown.rx.rcvbuf).toBeGreaterThan(16000);
    // tcp_mem of 0, 0 and 1000 pages: the first skb already takes tcp_memory_allocated over [1]
    const tcpMem = new TcpMem([0, 0, 1000]);
    const h = new Harness({ rcvbuf: 16000, tcpMem }, 4000, false);
    fillWindow(h, 0, ms(2000));
    expect(tcpMem.pressure).toBe(true);
    expect(tcpMem.memoryPressures).toBe(1);
    expect(h.rx.counters.pruneCalled).toBeGreaterThan(0);
    expect(h.rx.rcvbuf).toBe(16000);
    expect(h.rx.rcvSsthreshBytes).toBeLessThanOrEqual(4 * 1448);
  });

  it("drops what would take tcp_memory_allocated over tcp_mem[2]", () => {
    const tcpMem = new TcpMem([2, 4, 8]);
    // other sockets hold 6 pages, so this one's share stays small and only the hard limit binds
    tcpMem.allocated = 6;
    const h = new Harness({ tcpMem, rcvbuf: 1 << 20, rmemMax: 1 << 20 }, 2304, false, true);
    fillWindow(h, 0, ms(2000));
    expect(h.rx.counters.rmemDrops).toBeGreaterThan(0);
    expect(tcpMem.pressure).toBe(true);
    expect(tcpMem.maxAllocated).toBeLessThanOrEqual(8 + 1);
    expect(tcpMem.allocated).toBeLessThanOrEqual(8);
    expect(h.rx.rmemAlloc + h.rx.forwardAlloc).toBe((tcpMem.allocated - 6) * 4096);
  });

  it("returns every skb exactly once, whatever the arrival order and duplication", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 29 }), { minLength: 1, maxLength: 80 }),
        fc.array(fc.boolean(), { maxLength: 80 }),
        (arrivals, reads) => {
          const h = new Harness({ rcvbuf: 1 << 20, rmemMax: 1 << 20 }, 2304, false);
          // skb ids must be unique: give each arrival its own id through a second harness map
          const ids: number[] = [];
          arrivals.forEach((seg, i) => {
            const p = h.pool.alloc();
            h.pool.kind[p] = PKT_DATA;
            h.pool.seq[p] = seg * MSS;
            h.pool.len[p] = MSS;
            h.rx.receive(p, 2304, 1000 + i);
            ids.push(1000 + i);
            if (reads[i]) h.rx.read(3000);
          });
          h.rx.read(Number.POSITIVE_INFINITY);
          const inOrder = h.rx.nextExpected / MSS;
          // the in-order prefix is everything from 0 up to the first segment never delivered
          let expect0 = 0;
          while (arrivals.includes(expect0)) expect0++;
          expect(inOrder).toBe(expect0);
          expect(h.rx.counters.bytesRead).toBe(inOrder * MSS);
          const stillQueued = h.rx.ofoSegments;
          expect(new Set(h.freed).size).toBe(h.freed.length);
          expect(h.freed.length + stillQueued).toBe(ids.length);
          expect(h.rx.rmemAlloc).toBe(stillQueued * 2304);
          expect(h.pool.live).toBe(0);
        },
      ),
    );
  });
});

describe("tcp_collapse, property", () => {
  it("keeps every byte and frees every skb once, whatever the arrivals, reads and failed allocations", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 39 }), { minLength: 1, maxLength: 120 }),
        fc.array(fc.boolean(), { maxLength: 120 }),
        fc.array(fc.boolean(), { maxLength: 120 }),
        (arrivals, reads, fails) => {
          const h = new Harness({ userLocked: true, rcvbuf: 30000 }, 2304, false, true);
          let readBytes = 0;
          arrivals.forEach((seg, i) => {
            h.failAlloc = fails[i] === true;
            const p = h.pool.alloc();
            h.pool.kind[p] = PKT_DATA;
            h.pool.seq[p] = seg * MSS;
            h.pool.len[p] = MSS;
            h.rx.receive(p, 2304, 1000 + i);
            if (reads[i]) readBytes += h.rx.read(2000);
          });
          readBytes += h.rx.read(Number.POSITIVE_INFINITY);
          expect(readBytes).toBe(h.rx.nextExpected);
          expect(h.rx.rmemAlloc).toBeGreaterThanOrEqual(0);
          expect(h.rx.forwardAlloc).toBeGreaterThanOrEqual(-2304 * 40);
          h.expectEachSkbFreedOnce(arrivals.length, h.rx.ofoSegments);
        },
      ),
    );
  });
});
