/**
 * A first-in first-out queue of (time, int32 value) pairs on two typed-array rings that double when
 * full: the events a source produces in time order (a link's arrivals) wait here, and only the head
 * has an event in the simulator's queue. Nothing is allocated per entry.
 */

export class TimeFifo {
  private times = new Float64Array(16);
  private values = new Int32Array(16);
  private head = 0;
  length = 0;

  push(time: number, value: number): void {
    if (this.length === this.times.length) this.unwrap(this.length * 2);
    const i = (this.head + this.length) & (this.times.length - 1);
    this.times[i] = time;
    this.values[i] = value;
    this.length++;
  }

  /** The oldest entry's time (undefined behaviour when empty: check length). */
  headTime(): number {
    return this.times[this.head]!;
  }

  headValue(): number {
    return this.values[this.head]!;
  }

  /** Drops the oldest entry. */
  shift(): void {
    this.head = (this.head + 1) & (this.times.length - 1);
    this.length--;
  }

  /** Re-lays the entries from index 0 in rings of `n` slots. */
  private unwrap(n: number): void {
    const mask = this.times.length - 1;
    const t = new Float64Array(n);
    const v = new Int32Array(n);
    for (let k = 0; k < this.length; k++) {
      t[k] = this.times[(this.head + k) & mask]!;
      v[k] = this.values[(this.head + k) & mask]!;
    }
    this.times = t;
    this.values = v;
    this.head = 0;
  }
}
