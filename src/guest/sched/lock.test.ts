import { describe, expect, it } from "vitest";
import { ModelError, Simulator } from "../../sim/simulator.ts";
import { ms } from "../../sim/time.ts";
import { Kernel, type KernelCode } from "./kernel.ts";
import { SpinLock } from "./lock.ts";

const TIMER = 1;

function setup() {
  const sim = new Simulator({ seed: 9 });
  const k = new Kernel(sim, {
    vcpus: 1,
    hz: 250,
    costs: { irq: 1_000, softirqEntry: 100, contextSwitch: 0 },
  });
  const lock = new SpinLock(k, "rx_fill_lock");
  const irq = (t: number, fn: () => void): void => {
    sim.at(
      t,
      sim.register("test.irq", () => k.hardirq(0, fn)),
    );
  };
  return { sim, k, lock, irq };
}

describe("SpinLock", () => {
  it("records its owner and counts acquisitions", () => {
    const { sim, k, lock, irq } = setup();
    const owners: (string | null)[] = [];
    k.openSoftirq(TIMER, () => {
      lock.lock();
      owners.push(lock.owner);
      lock.unlock();
    });
    k.spawn("refill_work", 0, function* (): KernelCode {
      lock.lockBh();
      owners.push(lock.owner);
      lock.unlockBh();
      yield k.cpu(1_000);
    });
    irq(ms(1), () => {
      lock.lock();
      owners.push(lock.owner);
      lock.unlock();
      k.raiseSoftirq(TIMER);
    });
    sim.run(ms(2));
    expect(owners).toEqual(["refill_work", "hardirq/0", "softirq/0"]);
    expect(lock.acquisitions).toBe(3);
    expect(lock.owner).toBeNull();
  });

  it("reports a lock found held by another context, naming both", () => {
    const { sim, k, lock, irq } = setup();
    irq(ms(1), () => lock.lock()); // a handler that forgets to unlock
    k.spawn("refill_work", 0, function* (): KernelCode {
      yield k.sleepJiffies(1);
      lock.lockBh();
      lock.unlockBh();
    });
    expect(() => sim.run(ms(10))).toThrow(/refill_work found rx_fill_lock held by hardirq\/0/);
  });

  it("reports a plain spin_lock on a lock that a softirq takes (a same-CPU deadlock in Linux)", () => {
    const { sim, k, lock } = setup();
    k.openSoftirq(TIMER, () => {
      lock.lock();
      lock.unlock();
    });
    k.spawn("buggy", 0, function* (): KernelCode {
      lock.lock(); // should have been spin_lock_bh
      k.localBhDisable();
      k.raiseSoftirq(TIMER);
      k.localBhEnable();
      lock.unlock();
      yield k.cpu(1_000);
    });
    expect(() => sim.run(ms(10))).toThrow(ModelError);
  });

  it("releases the lock before spin_unlock_bh runs pending softirqs", () => {
    // __raw_spin_unlock_bh: do_raw_spin_unlock, then local_bh_enable_ip.
    const { sim, k, lock } = setup();
    let taken = false;
    k.openSoftirq(TIMER, () => {
      lock.lock();
      taken = true;
      lock.unlock();
    });
    k.spawn("refill_work", 0, function* (): KernelCode {
      lock.lockBh();
      k.raiseSoftirq(TIMER);
      lock.unlockBh();
      yield k.cpu(1_000);
    });
    sim.run(ms(10));
    expect(taken).toBe(true);
  });

  it("reports an unlock of a lock that is not held", () => {
    const { lock } = setup();
    expect(() => lock.unlock()).toThrow(/unlocked while not held/);
  });
});
