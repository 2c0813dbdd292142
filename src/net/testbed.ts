/**
 * A dumbbell for validation and benchmarks without a VM:
 *
 *   senders ──► forward link (bottleneck: rate, delay, queue, loss, outages) ──► receivers
 *   senders ◄── reverse link (ACKs)                                          ◄──┘
 *
 * Each flow is a TcpSender and a guest TcpReceiver; an application either reads everything as
 * soon as it arrives ("immediate") or never ("none", for window tests). Outages apply to both
 * directions.
 */
import type { TcpReceiverOptions } from "../guest/net/tcp/receiver.ts";
import { type AckSink, TcpReceiver } from "../guest/net/tcp/receiver.ts";
import { Simulator } from "../sim/simulator.ts";
import type { Ns } from "../sim/time.ts";
import { FlowDemux, Link, type PacketSink } from "./link.ts";
import { PacketPool } from "./packet.ts";
import { TcpSender, type TcpSenderOptions } from "./tcp-sender.ts";

export type SenderDefaults = Omit<TcpSenderOptions, "flow">;
export type ReceiverDefaults = Omit<TcpReceiverOptions, "flow">;

export interface TestbedFlow {
  /** When the sender starts (default 0). */
  startNs?: Ns;
  sender?: SenderDefaults;
  receiver?: ReceiverDefaults;
}

export interface TestbedConfig {
  /** Run seed (default 1); ignored when `sim` is given. */
  seed?: number;
  sim?: Simulator;
  pool?: PacketPool;
  rateBps: number;
  /** One-way propagation delay of the forward link. */
  delayNs: Ns;
  reverseRateBps?: number;
  reverseDelayNs?: Ns;
  queueLimitPackets?: number;
  queueLimitBytes?: number;
  reverseQueueLimitPackets?: number;
  lossProb?: number;
  reverseLossProb?: number;
  outages?: ReadonlyArray<readonly [Ns, Ns]>;
  /** A number of identical flows, or one entry per flow. */
  flows: number | TestbedFlow[];
  /** Options every sender gets (a flow's own entry overrides). */
  sender?: SenderDefaults;
  receiver?: ReceiverDefaults;
  /** skb truesize charged per received segment (virtio_net small buffers: ≈ 2304 B). */
  truesize?: number;
  reader?: "immediate" | "none";
}

/** truesize of a small-mode virtio_net rx skb (kernel-facts.md §1.4). */
export const SMALL_SKB_TRUESIZE = 2304;

class ReceiverPort implements PacketSink {
  constructor(
    private readonly rx: TcpReceiver,
    private readonly truesize: number,
    private readonly readAll: boolean,
  ) {}
  receive(pkt: number): void {
    this.rx.receive(pkt, this.truesize);
    if (this.readAll) this.rx.read(Number.POSITIVE_INFINITY);
  }
}

class AckPort implements AckSink {
  constructor(private readonly link: Link) {}
  sendAck(pkt: number): void {
    this.link.receive(pkt);
  }
}

export interface Testbed {
  sim: Simulator;
  pool: PacketPool;
  forward: Link;
  reverse: Link;
  /** The forward link's sink (hands packets to receivers by flow); wrap it to observe traffic. */
  toReceivers: FlowDemux;
  toSenders: FlowDemux;
  senders: TcpSender[];
  receivers: TcpReceiver[];
}

export function buildTestbed(cfg: TestbedConfig): Testbed {
  const sim = cfg.sim ?? new Simulator({ seed: cfg.seed ?? 1 });
  const pool = cfg.pool ?? new PacketPool(4096);
  const toReceivers = new FlowDemux(pool);
  const toSenders = new FlowDemux(pool);
  const forward = new Link(
    sim,
    pool,
    {
      name: "forward",
      rateBps: cfg.rateBps,
      delayNs: cfg.delayNs,
      ...(cfg.queueLimitPackets !== undefined && { queueLimitPackets: cfg.queueLimitPackets }),
      ...(cfg.queueLimitBytes !== undefined && { queueLimitBytes: cfg.queueLimitBytes }),
      ...(cfg.lossProb !== undefined && { lossProb: cfg.lossProb }),
      ...(cfg.outages !== undefined && { outages: cfg.outages }),
    },
    toReceivers,
  );
  const reverse = new Link(
    sim,
    pool,
    {
      name: "reverse",
      rateBps: cfg.reverseRateBps ?? cfg.rateBps,
      delayNs: cfg.reverseDelayNs ?? cfg.delayNs,
      ...(cfg.reverseQueueLimitPackets !== undefined && { queueLimitPackets: cfg.reverseQueueLimitPackets }),
      ...(cfg.reverseLossProb !== undefined && { lossProb: cfg.reverseLossProb }),
      ...(cfg.outages !== undefined && { outages: cfg.outages }),
    },
    toSenders,
  );
  const flows: TestbedFlow[] =
    typeof cfg.flows === "number" ? Array.from({ length: cfg.flows }, () => ({})) : cfg.flows;
  const ackPort = new AckPort(reverse);
  const truesize = cfg.truesize ?? SMALL_SKB_TRUESIZE;
  const readAll = (cfg.reader ?? "immediate") === "immediate";
  const senders: TcpSender[] = [];
  const receivers: TcpReceiver[] = [];
  flows.forEach((f, flow) => {
    const sender = new TcpSender(sim, pool, forward, { ...cfg.sender, ...f.sender, flow });
    const receiver = new TcpReceiver(sim, pool, ackPort, { ...cfg.receiver, ...f.receiver, flow });
    toReceivers.set(flow, new ReceiverPort(receiver, truesize, readAll));
    toSenders.set(flow, sender);
    sender.start(f.startNs ?? 0);
    senders.push(sender);
    receivers.push(receiver);
  });
  return { sim, pool, forward, reverse, toReceivers, toSenders, senders, receivers };
}
