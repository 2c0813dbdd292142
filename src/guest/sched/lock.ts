/**
 * spinlock_t with the _bh variants. Critical sections are atomic in simulated time (a holder that
 * yields is a model error, see kernel.ts), so a lock found held by someone else means the model
 * broke that rule: it is reported, never silently serialised.
 */
import { ModelError } from "../../sim/simulator.ts";
import type { Kernel } from "./kernel.ts";

export class SpinLock {
  owner: string | null = null;
  acquisitions = 0;
  constructor(
    readonly k: Kernel,
    readonly name: string,
  ) {}

  private who(): string {
    const k = this.k;
    return k.current !== null
      ? k.current.name
      : `${["process", "softirq", "hardirq"][k.ctx]}/${k.cpuNow.index}`;
  }

  /** spin_lock: in softirq/hardirq context or with bh already disabled. */
  lock(): void {
    const me = this.who();
    if (this.owner !== null) {
      throw new ModelError(
        `${me} found ${this.name} held by ${this.owner}: a lock was held across simulated time`,
      );
    }
    this.owner = me;
    this.acquisitions++;
    if (this.k.current !== null) this.k.current.locksHeld++;
  }

  unlock(): void {
    if (this.owner === null) throw new ModelError(`${this.name} unlocked while not held`);
    this.owner = null;
    if (this.k.current !== null) this.k.current.locksHeld--;
  }

  /** spin_lock_bh: local_bh_disable + spin_lock. */
  lockBh(): void {
    this.k.localBhDisable();
    this.lock();
  }

  /** spin_unlock_bh: spin_unlock + local_bh_enable, which may run pending softirqs here. */
  unlockBh(): void {
    this.unlock();
    this.k.localBhEnable();
  }
}
