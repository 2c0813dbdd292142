import { describe, expect, it } from "vitest";
import { PacketPool } from "../net/packet.ts";
import { Simulator } from "../sim/simulator.ts";
import { createTestQueue } from "../virtio/mock.ts";
import { DEFAULT_HOST_COSTS, VhostNetRx } from "./vhost-net.ts";

/** A host backend on a real ring whose guest side the test drives by hand. */
function setup(opts: { oneQueue?: boolean } = {}) {
  const sim = new Simulator({ seed: 1 });
  const q = createTestQueue({ size: 16, eventIdx: true, indirect: false, maxSg: 2 });
  const pool = new PacketPool(64);
  const host = new VhostNetRx(
    sim,
    q.device,
    { frameLen: (p) => pool.wireLen[p]!, free: (p) => pool.free(p) },
    DEFAULT_HOST_COSTS,
    { txQueueLen: 500, oneQueue: opts.oneQueue ?? false, qdiscLimit: 500 },
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
  return { sim, q, pool, host, send, post, take, irqs: () => irqs };
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
