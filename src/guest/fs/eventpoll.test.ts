import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Simulator } from "../../sim/simulator.ts";
import { ms } from "../../sim/time.ts";
import { CAT_APP } from "../sched/costs.ts";
import { Kernel, type KernelCode } from "../sched/kernel.ts";
import { EventPoll } from "./eventpoll.ts";

function setup() {
  const sim = new Simulator({ seed: 1 });
  const k = new Kernel(sim, {
    vcpus: 1,
    hz: 250,
    costs: { irq: 1_000, softirqEntry: 100, contextSwitch: 0, processOneWork: 0 },
  });
  sim.run(0);
  return { sim, k };
}

type Op =
  | { kind: "add" }
  | { kind: "callback"; item: number }
  | { kind: "take" }
  | { kind: "done"; readable: boolean };

describe("EventPoll ready list", () => {
  it("is a FIFO of distinct items: callbacks append once, take pops the head, done re-appends", () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.constant({ kind: "add" as const }),
      fc.record({ kind: fc.constant("callback" as const), item: fc.nat(40) }),
      fc.constant({ kind: "take" as const }),
      fc.record({ kind: fc.constant("done" as const), readable: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const { k } = setup();
        const ep = new EventPoll(k, "t");
        // The model: an array in list order; `last` is the item most recently taken.
        const model: number[] = [];
        let items = 0;
        let last = -1;
        for (const o of ops) {
          if (o.kind === "add") {
            expect(ep.add()).toBe(items++);
          } else if (o.kind === "callback") {
            if (o.item >= items) continue;
            ep.callback(o.item);
            if (!model.includes(o.item)) model.push(o.item);
          } else if (o.kind === "take") {
            last = ep.take();
            expect(last).toBe(model.length === 0 ? -1 : model.shift()!);
          } else if (last >= 0) {
            ep.done(last, o.readable);
            if (o.readable && !model.includes(last)) model.push(last);
            last = -1;
          }
          expect(ep.ready).toBe(model.length);
          expect(ep.size).toBe(items);
        }
      }),
    );
  });

  it("keeps its order when it grows with items on the list", () => {
    const { k } = setup();
    const ep = new EventPoll(k, "t");
    for (let i = 0; i < 4; i++) ep.add();
    // Head away from 0, then wrapped: [2, 3, 0, 1] in the 4-slot ring.
    for (const i of [0, 1, 2, 3]) ep.callback(i);
    ep.take();
    ep.take();
    ep.callback(0);
    ep.callback(1);
    for (let i = 4; i < 9; i++) ep.callback(ep.add());
    const order: number[] = [];
    for (let i = ep.take(); i >= 0; i = ep.take()) order.push(i);
    expect(order).toEqual([2, 3, 0, 1, 4, 5, 6, 7, 8]);
  });

  it("wakes a thread in epoll_wait, and keeps what became ready while it ran (no lost wake-up)", () => {
    const { sim, k } = setup();
    const ep = new EventPoll(k, "t");
    const a = ep.add();
    const b = ep.add();
    const seen: [number, number][] = [];
    k.spawn("app", 0, function* (): KernelCode {
      for (;;) {
        const i = ep.take();
        if (i < 0) {
          yield k.waitOn(ep.wq);
          continue;
        }
        seen.push([k.now, i]);
        // 1 ms of work per item, during which the other socket becomes readable.
        k.charge(ms(1), CAT_APP);
        yield k.cpu();
      }
    });
    sim.at(
      ms(2),
      sim.register("t.a", () => ep.callback(a)),
    );
    sim.at(
      ms(2) + 500_000,
      sim.register("t.b", () => ep.callback(b)),
    );
    sim.run(ms(10));
    // a at 2 ms wakes the sleeper; b, ready while it works on a, is taken without another wake-up.
    expect(seen.map(([, i]) => i)).toEqual([a, b]);
    expect(seen[0]![0]).toBe(ms(2));
    expect(seen[1]![0]).toBe(ms(3));
    expect(ep.taken).toBe(2);
  });
});
