import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PKT_DATA, PacketPool } from "../../../net/packet.ts";
import { Simulator } from "../../../sim/simulator.ts";
import { Jiffies, ms } from "../../../sim/time.ts";
import {
  type AckSink,
  type SkbReleaser,
  TCP_MAX_QUICKACKS,
  TcpReceiver,
  type TcpReceiverOptions,
  tcpAtoMin,
  tcpWinFromSpace,
} from "./receiver.ts";

const MSS = 1448;

interface Ack {
  t: number;
  ack: number;
  wnd: number;
  sacks: [number, number][];
}

class Harness implements AckSink, SkbReleaser {
  readonly sim = new Simulator({ seed: 1 });
  readonly pool = new PacketPool(64);
  readonly acks: Ack[] = [];
  readonly freed: number[] = [];
  readonly rx: TcpReceiver;
  private readonly deliverEvent: number;

  constructor(
    opts: Partial<TcpReceiverOptions> = {},
    private readonly truesize = 2304,
    private readonly readOnArrival = true,
  ) {
    this.rx = new TcpReceiver(this.sim, this.pool, this, { flow: 0, release: this, ...opts });
    this.deliverEvent = this.sim.register("deliver", (seg) => this.deliver(seg));
  }

  sendAck(p: number): void {
    const sacks: [number, number][] = [];
    for (let i = 0; i < this.pool.sackCount[p]!; i++) {
      sacks.push([this.pool.sackStart[p * 4 + i]! / MSS, this.pool.sackEnd[p * 4 + i]! / MSS]);
    }
    this.acks.push({ t: this.sim.now, ack: this.pool.ack[p]! / MSS, wnd: this.pool.wnd[p]!, sacks });
    this.pool.free(p);
  }

  freeSkb(skb: number): void {
    this.freed.push(skb);
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

  it("ACKs every segment with delayed ACKs off", () => {
    const h = new Harness({ delayedAck: false });
    for (let i = 0; i < 50; i++) h.deliverAt(ms(i), i);
    h.sim.run(ms(100));
    expect(h.acks.map((a) => a.ack)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
});

describe("out-of-order data", () => {
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
