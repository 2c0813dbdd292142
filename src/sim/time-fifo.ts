/**
 * A first-in first-out queue of (time, int32 value) pairs on one typed-array ring that doubles when
 * full: the events a source produces in time order (a link's arrivals) wait here, and only the head
 * has an event in the simulator's queue. Nothing is allocated per entry. Each pair sits in two
 * adjacent slots of one Float64Array (an int32 is exact in a double), so that with thousands of
 * links the head's time and value are one memory access away, not two arrays apart.
 */

export class TimeFifo {
  /**
   * slots[2i] the time, slots[2i + 1] the value of ring entry i. Four entries at first: 64 bytes
   * stay in V8's heap beside the array object (off-heap buffers cost an allocation and a sweep
   * each), and most of a many-flow run's links never hold more.
   */
  private slots = new Float64Array(8);
  /** Ring entries − 1 (a power of two − 1). */
  private mask = 3;
  private head = 0;
  length = 0;

  push(time: number, value: number): void {
    if (this.length > this.mask) this.unwrap((this.mask + 1) * 2);
    const i = ((this.head + this.length) & this.mask) << 1;
    this.slots[i] = time;
    this.slots[i + 1] = value;
    this.length++;
  }

  /** The oldest entry's time (undefined behaviour when empty: check length). */
  headTime(): number {
    return this.slots[this.head << 1]!;
  }

  headValue(): number {
    return this.slots[(this.head << 1) + 1]! | 0;
  }

  /** Drops the oldest entry. */
  shift(): void {
    this.head = (this.head + 1) & this.mask;
    this.length--;
  }

  /** Re-lays the entries from index 0 in a ring of `n` entries. */
  private unwrap(n: number): void {
    const slots = new Float64Array(2 * n);
    for (let k = 0; k < this.length; k++) {
      const i = ((this.head + k) & this.mask) << 1;
      slots[2 * k] = this.slots[i]!;
      slots[2 * k + 1] = this.slots[i + 1]!;
    }
    this.slots = slots;
    this.mask = n - 1;
    this.head = 0;
  }
}
