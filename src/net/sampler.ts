/**
 * Samples a few numeric probes (cwnd, queue length, …) at a fixed interval into preallocated typed
 * arrays: one event per interval, nothing allocated per sample. Sampling stops when full.
 */
import type { Simulator } from "../sim/simulator.ts";
import type { Ns } from "../sim/time.ts";

export class PeriodicSampler {
  readonly times: Float64Array;
  /** values[i][k]: probe i at times[k]. */
  readonly values: Float64Array[];
  count = 0;
  private readonly event: number;

  constructor(
    private readonly sim: Simulator,
    readonly intervalNs: Ns,
    capacity: number,
    private readonly probes: ReadonlyArray<() => number>,
    name = "sampler",
  ) {
    if (!(Number.isSafeInteger(intervalNs) && intervalNs > 0)) {
      throw new RangeError(`sampler interval must be a positive integer, got ${intervalNs}`);
    }
    this.times = new Float64Array(capacity);
    this.values = probes.map(() => new Float64Array(capacity));
    this.event = sim.register(name, () => this.tick(), { observer: true });
  }

  /** Takes the first sample at `at`, then every interval. */
  start(at: Ns = this.sim.now): void {
    this.sim.at(at, this.event);
  }

  private tick(): void {
    const k = this.count;
    if (k >= this.times.length) return;
    this.times[k] = this.sim.now;
    for (let i = 0; i < this.probes.length; i++) this.values[i]![k] = this.probes[i]!();
    this.count = k + 1;
    this.sim.after(this.intervalNs, this.event);
  }
}
