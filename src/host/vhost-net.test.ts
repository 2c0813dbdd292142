import { describe, expect, it } from "vitest";
import { PacketPool } from "../net/packet.ts";
import { Simulator } from "../sim/simulator.ts";
import { createTestQueue } from "../virtio/mock.ts";
import { DEFAULT_HOST_COSTS, VhostNetRx } from "./vhost-net.ts";

/** A host backend on a real ring whose guest side the test drives by hand. */
function setup(opts: { oneQueue?: boolean; mergeable?: boolean; size?: number } = {}) {
  const sim = new Simulator({ seed: 1 });
  const size = opts.size ?? 16;
  // Buffers of postInside lie in guest memory, so the header bytes the device writes are readable.
  const q = createTestQueue({ size, eventIdx: true, indirect: false, maxSg: 2, dataBytes: size * 4096 });
  const pool = new PacketPool(64);
  const host = new VhostNetRx(
    sim,
    q.device,
    {
      frameLen: (p) => pool.wireLen[p]!,
      gsoSegs: (p) => (pool.gsoSize[p]! > 0 ? Math.ceil(pool.len[p]! / pool.gsoSize[p]!) : 0),
      free: (p) => pool.free(p),
    },
    DEFAULT_HOST_COSTS,
    { txQueueLen: 500, oneQueue: opts.oneQueue ?? false, qdiscLimit: 500 },
    opts.mergeable ?? false,
  );
  let irqs = 0;
  host.connectGuest({ interrupt: () => irqs++ });
  const send = (n: number, seq0: number) => {
    for (let i = 0; i < n; i++) {
      const p = pool.alloc();
      pool.seq[p] = seq0 + i;
      pool.wireLen[p] = 1514;
      host.deliver(p);
    }
  };
  /** The guest posts `n` receive buffers and kicks. */
  const post = (n: number) => {
    for (let i = 0; i < n; i++) {
      q.sg.set(0, 2 ** 40 + i * 4096, 1528);
      q.driver.addBuf(0, 1, q.sg, i);
    }
    if (q.driver.kick()) host.guestKick();
  };
  /** The guest takes every used buffer; returns the sequence numbers delivered, in order. */
  const take = () => {
    const seqs: number[] = [];
    for (let t = q.driver.getBuf(); t >= 0; t = q.driver.getBuf()) {
      const p = host.takePacket(q.driver.lastId);
      seqs.push(pool.seq[p]!);
      pool.free(p);
    }
    return seqs;
  };
  /** A TSO frame of `segs` MSS segments of 1448 bytes (gso_size 1448, 66 header bytes). */
  const sendGso = (segs: number, seq0: number) => {
    const p = pool.alloc();
    pool.seq[p] = seq0;
    pool.len[p] = segs * 1448;
    pool.gsoSize[p] = 1448;
    pool.wireLen[p] = segs * 1448 + 66;
    host.deliver(p);
  };
  /** The guest posts `n` buffers of `bytes` each, one descriptor, inside guest memory, and kicks. */
  let nextBuf = 0;
  const postInside = (n: number, bytes: number) => {
    for (let i = 0; i < n; i++, nextBuf++) {
      q.sg.set(0, q.dataBase + (nextBuf % size) * 4096, bytes);
      q.driver.addBuf(0, 1, q.sg, nextBuf % size);
    }
    if (q.driver.kick()) host.guestKick();
  };
  /** The used buffers: token, used length and, for a frame's first buffer, hdr.num_buffers. */
  const takeUsed = () => {
    const out: { token: number; len: number; numBuffers: number }[] = [];
    const view = new DataView(q.memory);
    for (let t = q.driver.getBuf(); t >= 0; t = q.driver.getBuf()) {
      const p = host.takePacket(q.driver.lastId);
      if (p >= 0) pool.free(p);
      out.push({
        token: t,
        len: q.driver.lastLen,
        numBuffers: view.getUint16(q.dataBase + t * 4096 + 10, true),
      });
    }
    return out;
  };
  return { sim, q, pool, host, send, sendGso, post, postInside, take, takeUsed, irqs: () => irqs };
}

describe("vhost-net handle_rx and the tap queue", () => {
  it("with the ring empty, queues up to the tap limit (+1) and the qdisc, then drops", () => {
    const t = setup();
    t.send(1200, 0);
    t.sim.run(1_000_000);
    const tap = t.host.tap;
    expect(t.host.noRxAvailBuffer).toBeGreaterThan(0);
    // tun_net_xmit queues the packet that finds 500 queued (and stops the queue): 501.
    expect(tap.queued).toBe(501);
    expect(tap.txFifoErrors).toBe(1);
    expect(tap.qdiscQueued).toBe(500);
    expect(tap.qdiscDrops).toBe(1200 - 501 - 500);
    expect(t.pool.live).toBe(1001);
  });

  it("with IFF_ONE_QUEUE, drops at the tap instead", () => {
    const t = setup({ oneQueue: true });
    t.send(600, 0);
    t.sim.run(1_000_000);
    expect(t.host.tap.queued).toBe(500);
    expect(t.host.tap.txDropped).toBe(100);
    expect(t.host.tap.qdiscDrops).toBe(0);
  });

  it("delivers the queue in order once buffers appear, after the guest's kick", () => {
    const t = setup();
    t.send(40, 0);
    t.sim.run(1_000_000);
    expect(t.take()).toEqual([]);
    const seen: number[] = [];
    for (let round = 0; round < 3; round++) {
      t.post(16);
      t.sim.run(t.sim.now + 1_000_000);
      seen.push(...t.take());
    }
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(t.host.rxPacketsCount).toBe(40);
    expect(t.host.rxQueueEventCount).toBeGreaterThan(0);
    expect(t.irqs()).toBeGreaterThan(0);
    expect(t.host.tap.queued).toBe(0);
  });

  it("does not signal while the guest has interrupts disabled", () => {
    const t = setup();
    t.post(16);
    t.q.driver.disableCb();
    t.send(8, 0);
    t.sim.run(1_000_000);
    expect(t.host.rxPacketsCount).toBe(8);
    // EVENT_IDX: the first signal is always sent (vhost_notify's signalled_used_valid); the rest
    // are suppressed until the guest re-arms used_event.
    const before = t.irqs();
    t.send(4, 8);
    t.sim.run(2_000_000);
    expect(t.irqs()).toBe(before);
  });
});

describe("vhost-net get_rx_bufs: one frame across buffers", () => {
  // 45 segments of 1448 B: tcp_xmit_size_goal's 64 KiB TSO frame, 65 226 B + 12 B header.
  const FRAME = 45 * 1448 + 66;
  const VHOST_LEN = FRAME + 12;

  it("with MRG_RXBUF writes a 64 KiB frame into ceil(len / 4096) buffers and sets num_buffers", () => {
    const t = setup({ mergeable: true, size: 32 });
    t.postInside(20, 4096);
    t.sendGso(45, 0);
    t.sim.run(1_000_000);
    const used = t.takeUsed();
    const n = Math.ceil(VHOST_LEN / 4096);
    expect(n).toBe(16);
    expect(used.map((u) => u.len)).toEqual([...Array(n - 1).fill(4096), VHOST_LEN - (n - 1) * 4096]);
    expect(used[0]!.numBuffers).toBe(n);
    expect(t.host.rxMultiBufferFrames).toBe(1);
    expect(t.host.rxBuffersUsed).toBe(n);
    expect(t.host.rxMaxNumBuffers).toBe(n);
    expect(t.host.rxGsoFrames).toBe(1);
    expect(t.host.rxGsoSegments).toBe(45);
  });

  it("without MRG_RXBUF puts the frame in one big buffer, num_buffers untouched", () => {
    const t = setup({ mergeable: false, size: 4 });
    // One big-mode buffer: MAX_SKB_FRAGS + 1 pages less the padded header (65 562 B at least, spec 5.1.6.3).
    t.q.sg.set(0, 2 ** 40, 19 * 4096 - 16);
    t.q.driver.addBuf(0, 1, t.q.sg, 0);
    if (t.q.driver.kick()) t.host.guestKick();
    t.sendGso(45, 0);
    t.sim.run(1_000_000);
    expect(t.q.driver.getBuf()).toBe(0);
    expect(t.q.driver.lastLen).toBe(FRAME + 10);
    expect(t.host.numBuffersAtHead[t.q.driver.lastId]).toBe(1);
    expect(t.host.rxMultiBufferFrames).toBe(0);
    expect(t.host.rxGsoSegments).toBe(45);
  });

  it("with too few buffers posted, waits with the frame in the tap and delivers it whole after the refill", () => {
    const t = setup({ mergeable: true, size: 32 });
    t.postInside(10, 4096);
    t.sendGso(45, 0);
    t.sendGso(1, 45 * 1448);
    t.sim.run(1_000_000);
    // Nothing was split off: the ten buffers went back to the ring, the frame stays queued.
    expect(t.takeUsed()).toEqual([]);
    expect(t.host.tap.queued).toBe(2);
    expect(t.host.waitingForKick).toBe(true);
    expect(t.host.rxTooFewBuffers).toBeGreaterThan(0);
    expect(t.host.noRxAvailBuffer).toBeGreaterThan(0);
    expect(t.q.device.nextAvail).toBe(0);
    t.postInside(10, 4096);
    t.sim.run(2_000_000);
    const used = t.takeUsed();
    expect(used.length).toBe(17);
    expect(used[0]!.numBuffers).toBe(16);
    expect(used[16]!.numBuffers).toBe(1);
    expect(t.host.tap.queued).toBe(0);
  });

  it("drops a frame that cannot fit the one buffer allowed without MRG_RXBUF (overrun), never splits it", () => {
    const t = setup({ mergeable: false });
    t.post(8);
    t.sendGso(45, 0);
    t.send(1, 7);
    t.sim.run(1_000_000);
    expect(t.host.rxOverruns).toBe(1);
    expect(t.take()).toEqual([7]);
    expect(t.pool.live).toBe(0);
  });
});
