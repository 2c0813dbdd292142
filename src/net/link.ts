/**
 * A one-way link: a drop-tail FIFO in front of a serialiser of fixed rate, then a propagation delay.
 *
 * Departure times are computed, not simulated (performance.md): a packet offered at `now` starts
 * serialisation at max(now, busyUntil) and finishes size·8/rate later (rounded to the ns per
 * packet); the only event is its arrival at the far end, finish + delay, which calls the sink. The
 * queue's occupancy is the set of accepted packets whose serialisation has not finished, so both a
 * byte and a packet limit are exact.
 *
 * Every accepted packet is one entry of a ring (finish time, arrival time, size, and the packet or
 * -1 when lost on the wire) with two heads: the backlog's (the oldest entry still being serialised)
 * and the arrivals' (the oldest packet still on its way); an entry is free once both passed it. One
 * typed array on the link keeps what a packet touches a few cache lines apart when thousands of
 * links carry a flow each.
 *
 * Arrivals come out in the order packets went in, so only the first has an event in the
 * simulator's queue. When its handler has delivered it, the next arrival runs in the
 * same call if it is the next event anyway (Simulator.claimNext): a TCP burst crossing an otherwise
 * idle link is one handler call and no queue operation per packet, with the same events, times and
 * fingerprint as one scheduled event per packet.
 *
 * Losses, in the order they apply to an offered packet:
 *  1. outage: the link is down during [start, end) of a scheduled window; packets offered then are
 *     dropped (outageDrops). Packets already accepted still arrive.
 *  2. queue overflow: the backlog (including the packet being serialised) would exceed a limit
 *     (queueDrops).
 *  3. Bernoulli loss with probability lossProb, from the link's own Rng stream: the packet uses the
 *     link but never arrives (lossDrops), like corruption on the wire.
 * Dropped packets go back to the pool.
 */
import type { Rng } from "../sim/rng.ts";
import type { Simulator } from "../sim/simulator.ts";
import type { Ns } from "../sim/time.ts";
import type { PacketPool } from "./packet.ts";

// Fields of a ring entry, RING_STRIDE doubles (a packet index is exact in a double).
const E_END = 0;
const E_ARRIVAL = 1;
const E_SIZE = 2;
const E_PKT = 3;
const RING_STRIDE = 4;
/** Entries at first: 2 · 4 doubles = 64 bytes, which V8 keeps on its heap beside the array object. */
const INITIAL_RING = 2;
/**
 * The outages of every link that has none. Building a typed array costs about a microsecond, and
 * 10 000 flows have 20 000 access links.
 */
const NO_OUTAGES = new Float64Array(0);

/** Whatever takes packets: a link's input, a TCP endpoint, a host NIC. Registered once, not per packet. */
export interface PacketSink {
  receive(pkt: number): void;
}

export interface LinkOptions {
  name: string;
  /** Serialisation rate in bits per second. */
  rateBps: number;
  /** One-way propagation delay. */
  delayNs: Ns;
  /** Backlog limit in bytes (Infinity: none). */
  queueLimitBytes?: number;
  /** Backlog limit in packets (Infinity: none). */
  queueLimitPackets?: number;
  /** Bernoulli loss probability per packet. */
  lossProb?: number;
  /** Down windows [start, end), sorted and disjoint. */
  outages?: ReadonlyArray<readonly [Ns, Ns]>;
}

export class LinkError extends Error {
  override name = "LinkError";
}

export class Link implements PacketSink {
  readonly name: string;
  readonly rateBps: number;
  readonly delayNs: Ns;
  readonly queueLimitBytes: number;
  readonly queueLimitPackets: number;
  readonly lossProb: number;
  private readonly nsPerByte: number;
  /** Outage i is [outages[2i], outages[2i + 1]); one array, shared and empty on links without any. */
  private readonly outages: Float64Array;
  /** The number of outages, on the link itself: a link without outages then reads no array per packet. */
  private readonly outageCount: number;
  private nextOutage = 0;
  private readonly lossRng: Rng | null;
  private readonly arrival: number;
  private sink: PacketSink | null = null;

  /** When the serialiser finishes the last accepted packet. */
  private busyUntil = 0;
  /** Entry k's fields at RING_STRIDE·k + E_*; mask = entries − 1 (a power of two − 1). */
  private ring = new Float64Array(INITIAL_RING * RING_STRIDE);
  private mask = INITIAL_RING - 1;
  /** Where the next accepted packet goes. */
  private tail = 0;
  /** Accepted packets not yet fully serialised: `backlog` entries from backlogHead. */
  private backlogHead = 0;
  private backlog = 0;
  private backlogBytes = 0;
  /**
   * The entries from the first packet still on its way to the tail (lost ones among them): the
   * head is a packet that arrives, and equals tail when `arriving` is 0.
   */
  private arrivingHead = 0;
  private arriving = 0;
  /** True while the arrivals' head has an arrival event pending or is being delivered. */
  private arrivalArmed = false;

  packetsSent = 0;
  bytesSent = 0;
  packetsDelivered = 0;
  queueDrops = 0;
  lossDrops = 0;
  outageDrops = 0;
  maxQueuePackets = 0;
  maxQueueBytes = 0;

  constructor(
    private readonly sim: Simulator,
    private readonly pool: PacketPool,
    opts: LinkOptions,
    sink?: PacketSink,
  ) {
    if (!(opts.rateBps > 0))
      throw new LinkError(`link ${opts.name}: rateBps must be > 0, got ${opts.rateBps}`);
    if (!(Number.isSafeInteger(opts.delayNs) && opts.delayNs >= 0)) {
      throw new LinkError(`link ${opts.name}: delayNs must be a non-negative integer, got ${opts.delayNs}`);
    }
    const loss = opts.lossProb ?? 0;
    if (!(loss >= 0 && loss <= 1))
      throw new LinkError(`link ${opts.name}: lossProb must be in [0, 1], got ${loss}`);
    this.name = opts.name;
    this.rateBps = opts.rateBps;
    this.nsPerByte = 8e9 / opts.rateBps;
    this.delayNs = opts.delayNs;
    this.queueLimitBytes = opts.queueLimitBytes ?? Number.POSITIVE_INFINITY;
    this.queueLimitPackets = opts.queueLimitPackets ?? Number.POSITIVE_INFINITY;
    this.lossProb = loss;
    this.lossRng = loss > 0 ? sim.rng(`link.${opts.name}.loss`) : null;
    const outages = opts.outages ?? [];
    this.outages = outages.length === 0 ? NO_OUTAGES : new Float64Array(2 * outages.length);
    this.outageCount = outages.length;
    let prevEnd = -1;
    outages.forEach(([s, e], i) => {
      if (!(s < e && s >= prevEnd)) {
        throw new LinkError(`link ${opts.name}: outages must be sorted, disjoint [start, end) windows`);
      }
      this.outages[2 * i] = s;
      this.outages[2 * i + 1] = e;
      prevEnd = e;
    });
    this.arrival = sim.register(`link.${opts.name}.arrive`, () => this.arrive());
    if (sink) this.sink = sink;
  }

  connect(sink: PacketSink): void {
    this.sink = sink;
  }

  /** Serialisation time of `bytes`, rounded to the ns. */
  txTime(bytes: number): Ns {
    return Math.round(bytes * this.nsPerByte);
  }

  /** True while a scheduled outage covers `now`. */
  isDown(now: Ns): boolean {
    while (this.nextOutage < this.outageCount && this.outages[2 * this.nextOutage + 1]! <= now)
      this.nextOutage++;
    return this.nextOutage < this.outageCount && this.outages[2 * this.nextOutage]! <= now;
  }

  /** Packets accepted and not yet fully serialised at `now` (call with the current time). */
  queuePackets(now: Ns): number {
    this.expire(now);
    return this.backlog;
  }

  queueBytes(now: Ns): number {
    this.expire(now);
    return this.backlogBytes;
  }

  /** Restarts the peak-backlog counters from the current backlog (for a measurement window). */
  resetPeaks(): void {
    const now = this.sim.now;
    this.maxQueuePackets = this.queuePackets(now);
    this.maxQueueBytes = this.queueBytes(now);
  }

  /** Offers a packet to the link at the current time. */
  receive(pkt: number): void {
    const now = this.sim.now;
    const pool = this.pool;
    if (this.isDown(now)) {
      this.outageDrops++;
      pool.free(pkt);
      return;
    }
    this.expire(now);
    const size = pool.wireLen[pkt]!;
    if (this.backlog + 1 > this.queueLimitPackets || this.backlogBytes + size > this.queueLimitBytes) {
      this.queueDrops++;
      pool.free(pkt);
      return;
    }
    const start = this.busyUntil > now ? this.busyUntil : now;
    const end = start + this.txTime(size);
    this.busyUntil = end;
    this.packetsSent++;
    this.bytesSent += size;
    const t = end + this.delayNs;
    if (this.lossRng !== null && this.lossRng.uniform() < this.lossProb) {
      this.lossDrops++;
      pool.free(pkt);
      this.push(end, t, size, -1);
      return;
    }
    this.push(end, t, size, pkt);
    if (!this.arrivalArmed) {
      this.arrivalArmed = true;
      this.sim.post(t, this.arrival, pkt, 0);
    }
  }

  /** Delivers the head of inFlight, and the arrivals after it for as long as each is the next event. */
  private arrive(): void {
    const sink = this.sink;
    if (sink === null) throw new LinkError(`link ${this.name} has no sink`);
    for (;;) {
      const pkt = this.ring[this.arrivingHead * RING_STRIDE + E_PKT]! | 0;
      this.advanceArrivals();
      this.packetsDelivered++;
      // Packets the sink sends back into this link meanwhile only join the ring: arrivalArmed is set.
      sink.receive(pkt);
      if (this.arriving === 0) {
        this.arrivalArmed = false;
        return;
      }
      const i = this.arrivingHead * RING_STRIDE;
      const t = this.ring[i + E_ARRIVAL]!;
      const next = this.ring[i + E_PKT]! | 0;
      if (!this.sim.claimNext(t, this.arrival, next, 0)) {
        this.sim.post(t, this.arrival, next, 0);
        return;
      }
    }
  }

  /** Passes the arrivals' head, then the lost entries after it: the head is a packet or the tail. */
  private advanceArrivals(): void {
    const mask = this.mask;
    let h = (this.arrivingHead + 1) & mask;
    let n = this.arriving - 1;
    while (n > 0 && this.ring[h * RING_STRIDE + E_PKT]! < 0) {
      h = (h + 1) & mask;
      n--;
    }
    this.arrivingHead = h;
    this.arriving = n;
  }

  private expire(now: Ns): void {
    while (this.backlog > 0 && this.ring[this.backlogHead * RING_STRIDE + E_END]! <= now) {
      this.backlogBytes -= this.ring[this.backlogHead * RING_STRIDE + E_SIZE]!;
      this.backlogHead = (this.backlogHead + 1) & this.mask;
      this.backlog--;
    }
  }

  /** Appends an accepted packet (pkt -1: lost on the wire) to the backlog and the arrivals. */
  private push(end: Ns, arrival: Ns, size: number, pkt: number): void {
    if (Math.max(this.backlog, this.arriving) > this.mask) this.growRing();
    const i = this.tail * RING_STRIDE;
    const ring = this.ring;
    ring[i + E_END] = end;
    ring[i + E_ARRIVAL] = arrival;
    ring[i + E_SIZE] = size;
    ring[i + E_PKT] = pkt;
    this.tail = (this.tail + 1) & this.mask;
    // A lost packet behind no arriving one is passed at once: the arrivals' head stays a packet.
    if (pkt >= 0 || this.arriving > 0) this.arriving++;
    else this.arrivingHead = this.tail;
    this.backlog++;
    this.backlogBytes += size;
    if (this.backlog > this.maxQueuePackets) this.maxQueuePackets = this.backlog;
    if (this.backlogBytes > this.maxQueueBytes) this.maxQueueBytes = this.backlogBytes;
  }

  /** Doubles the ring, re-laying from index 0 the entries either head still needs. */
  private growRing(): void {
    const held = Math.max(this.backlog, this.arriving);
    const n = (this.mask + 1) * 2;
    const ring = new Float64Array(n * RING_STRIDE);
    for (let k = 0; k < held; k++) {
      const from = ((this.tail - held + k) & this.mask) * RING_STRIDE;
      // Field by field: a subarray per entry would be an object per packet held.
      for (let f = 0; f < RING_STRIDE; f++) ring[k * RING_STRIDE + f] = this.ring[from + f]!;
    }
    this.ring = ring;
    this.mask = n - 1;
    this.tail = held;
    this.backlogHead = held - this.backlog;
    this.arrivingHead = held - this.arriving;
  }
}

/** Hands each packet to the sink registered for its flow id (one link, many endpoints). */
export class FlowDemux implements PacketSink {
  private sinks: (PacketSink | undefined)[] = [];
  constructor(private readonly pool: PacketPool) {}

  set(flow: number, sink: PacketSink): void {
    this.sinks[flow] = sink;
  }

  receive(pkt: number): void {
    const s = this.sinks[this.pool.flow[pkt]!];
    if (s === undefined) throw new LinkError(`no endpoint for flow ${this.pool.flow[pkt]}`);
    s.receive(pkt);
  }
}
