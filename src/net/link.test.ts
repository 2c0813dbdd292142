import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Simulator } from "../sim/simulator.ts";
import { Rng } from "../sim/rng.ts";
import { ms, sec, us } from "../sim/time.ts";
import { Link, type PacketSink } from "./link.ts";
import { PacketPool } from "./packet.ts";

/** Records arrival times and frees the packets. */
class Recorder implements PacketSink {
  times: number[] = [];
  seqs: number[] = [];
  constructor(
    private readonly sim: Simulator,
    private readonly pool: PacketPool,
  ) {}
  receive(pkt: number): void {
    this.times.push(this.sim.now);
    this.seqs.push(this.pool.seq[pkt]!);
    this.pool.free(pkt);
  }
}

function setup(opts: Partial<ConstructorParameters<typeof Link>[2]> = {}) {
  const sim = new Simulator({ seed: 11 });
  const pool = new PacketPool(64);
  const rec = new Recorder(sim, pool);
  const link = new Link(sim, pool, { name: "l", rateBps: 1e9, delayNs: ms(1), ...opts }, rec);
  const offer = (n: number, bytes: number, at = sim.now) => {
    const ev = sim.register(`offer${at}`, () => {
      for (let i = 0; i < n; i++) {
        const p = pool.alloc();
        pool.seq[p] = i;
        pool.wireLen[p] = bytes;
        link.receive(p);
      }
    });
    sim.at(at, ev);
  };
  return { sim, pool, rec, link, offer };
}

describe("Link", () => {
  it("serialises back to back and adds the propagation delay", () => {
    const { sim, rec, link, offer, pool } = setup();
    offer(5, 1250, us(10));
    sim.run(sec(1));
    // 1250 B at 1 Gbit/s = 10 µs each
    expect(rec.times).toEqual([1, 2, 3, 4, 5].map((k) => us(10) + k * us(10) + ms(1)));
    expect(rec.seqs).toEqual([0, 1, 2, 3, 4]);
    expect(link.packetsSent).toBe(5);
    expect(link.bytesSent).toBe(6250);
    expect(pool.live).toBe(0);
  });

  it("starts a packet when it arrives if the link is idle", () => {
    const { sim, rec, offer } = setup();
    offer(1, 1250, us(0));
    offer(1, 1250, us(100));
    sim.run(sec(1));
    expect(rec.times).toEqual([us(10) + ms(1), us(110) + ms(1)]);
  });

  it("drops at the tail beyond the packet limit and frees the space as packets leave", () => {
    const { sim, rec, link, offer, pool } = setup({ queueLimitPackets: 3 });
    offer(10, 1250, 0);
    // at 25 µs two packets have left the serialiser, so two more fit
    offer(4, 1250, us(25));
    sim.run(sec(1));
    expect(link.queueDrops).toBe(7 + 2);
    expect(rec.times.length).toBe(3 + 2);
    expect(link.maxQueuePackets).toBe(3);
    expect(pool.live).toBe(0);
  });

  it("enforces a byte limit", () => {
    const { sim, link, offer } = setup({ queueLimitBytes: 4000 });
    offer(10, 1500, 0);
    sim.run(sec(1));
    expect(link.packetsSent).toBe(2);
    expect(link.queueDrops).toBe(8);
    expect(link.maxQueueBytes).toBe(3000);
  });

  it("drops what is offered during an outage but delivers what was accepted before", () => {
    const { sim, rec, link, offer } = setup({ outages: [[us(5), us(50)]] });
    offer(3, 1250, 0); // accepted, serialised until 30 µs
    offer(2, 1250, us(20)); // link down
    offer(1, 1250, us(50)); // back up
    sim.run(sec(1));
    expect(link.outageDrops).toBe(2);
    expect(rec.times).toEqual([us(10), us(20), us(30), us(60)].map((t) => t + ms(1)));
  });

  it("loses packets with the configured probability, reproducibly per seed", () => {
    const run = () => {
      const { sim, rec, link, offer } = setup({ lossProb: 0.1 });
      offer(20000, 100, 0);
      sim.run(sec(1));
      return { delivered: rec.seqs, lost: link.lossDrops };
    };
    const a = run();
    const b = run();
    expect(a).toEqual(b);
    // binomial(20000, 0.1): mean 2000, sd ≈ 42
    expect(a.lost).toBeGreaterThan(2000 - 5 * 42);
    expect(a.lost).toBeLessThan(2000 + 5 * 42);
    expect(a.delivered.length + a.lost).toBe(20000);
  });

  it("rejects bad parameters", () => {
    const sim = new Simulator({ seed: 1 });
    const pool = new PacketPool();
    expect(() => new Link(sim, pool, { name: "x", rateBps: 0, delayNs: 0 })).toThrow(/rateBps/);
    expect(() => new Link(sim, pool, { name: "x", rateBps: 1, delayNs: 0.5 })).toThrow(/delayNs/);
    expect(
      () =>
        new Link(sim, pool, {
          name: "x",
          rateBps: 1,
          delayNs: 0,
          outages: [
            [10, 20],
            [15, 30],
          ],
        }),
    ).toThrow(/outages/);
  });

  it("keeps one arrival event pending for a whole burst, and runs a burst on an idle link in one call", () => {
    const { sim, rec, offer, pool } = setup();
    offer(40, 1250, us(10));
    const depth: number[] = [];
    const probe = sim.register("probe", () => depth.push(sim.queue.size));
    sim.at(us(100), probe);
    sim.run(sec(1));
    // 39 packets in flight at 100 µs, one event for them.
    expect(depth).toEqual([1]);
    expect(rec.times).toEqual(Array.from({ length: 40 }, (_, k) => us(10) + (k + 1) * us(10) + ms(1)));
    // Every arrival is still an event of its own: counted and in the fingerprint.
    expect(sim.events).toBe(1 + 1 + 40);
    expect(pool.live).toBe(0);
  });

  it("takes packets its sink sends back into it while it delivers", () => {
    const sim = new Simulator({ seed: 11 });
    const pool = new PacketPool(8);
    const times: number[] = [];
    let link: Link;
    const echo: PacketSink = {
      receive(pkt) {
        times.push(sim.now);
        // The first pass goes round once more; the link's FIFO is empty at that moment.
        if (pool.seq[pkt]! === 0) {
          pool.seq[pkt] = 1;
          link.receive(pkt);
        } else pool.free(pkt);
      },
    };
    link = new Link(sim, pool, { name: "loop", rateBps: 1e9, delayNs: ms(1) }, echo);
    const start = sim.register("start", () => {
      const p = pool.alloc();
      pool.seq[p] = 0;
      pool.wireLen[p] = 1250;
      link.receive(p);
    });
    sim.at(0, start);
    sim.run(sec(1));
    expect(times).toEqual([us(10) + ms(1), 2 * (us(10) + ms(1))]);
    expect(link.packetsDelivered).toBe(2);
  });

  it("delivers, drops and loses exactly as a direct computation of the drop-tail serialiser says", () => {
    // Offers at increasing times; each accepted packet leaves at max(now, busy) + size·8/rate and
    // arrives delay later unless the loss stream (the link's own) says it is lost.
    const offerArb = fc.record({
      gap: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 3000 })),
      size: fc.integer({ min: 64, max: 1500 }),
    });
    fc.assert(
      fc.property(
        fc.array(offerArb, { maxLength: 120 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(0, 0.3, 1),
        fc.integer({ min: 0, max: 20_000 }),
        (offers, limit, lossProb, delayNs) => {
          const sim = new Simulator({ seed: 5 });
          const pool = new PacketPool(16);
          const rec = new Recorder(sim, pool);
          const link = new Link(
            sim,
            pool,
            { name: "p", rateBps: 8e9, delayNs, queueLimitPackets: limit, queueLimitBytes: 6000, lossProb },
            rec,
          );
          const lossRng = new Rng(5, "link.p.loss");
          const expected: [number, number][] = [];
          let busy = 0;
          const ends: [number, number][] = [];
          let drops = 0;
          let lost = 0;
          let t = 0;
          offers.forEach((o, i) => {
            t += o.gap;
            while (ends.length > 0 && ends[0]![0] <= t) ends.shift();
            const bytes = ends.reduce((n, e) => n + e[1], 0);
            if (ends.length + 1 > limit || bytes + o.size > 6000) {
              drops++;
            } else {
              busy = Math.max(busy, t) + o.size; // 1 ns per byte at 8 Gbit/s
              ends.push([busy, o.size]);
              if (lossProb > 0 && lossRng.uniform() < lossProb) lost++;
              else expected.push([busy + delayNs, i]);
            }
            const ev = sim.register(`offer${i}`, () => {
              const p = pool.alloc();
              pool.seq[p] = i;
              pool.wireLen[p] = o.size;
              link.receive(p);
            });
            sim.at(t, ev);
          });
          sim.run(sec(1));
          expect(rec.times.map((at, k) => [at, rec.seqs[k]])).toEqual(expected);
          expect([link.queueDrops, link.lossDrops]).toEqual([drops, lost]);
          expect(link.queuePackets(sim.now)).toBe(0);
          expect(pool.live).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
