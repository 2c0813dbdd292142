/**
 * Builds the whole modelled system from a resolved scenario and wires it together:
 *
 *   senders ─► access link (per group: rtt/2, rate, loss) ─► uplink (shared) ─► tap/qdisc ─► vhost
 *   handle_rx ─► rx virtqueue in guest memory ─► interrupt ─► virtio_net (NAPI, refill) ─► TCP
 *   sockets ─► reader threads ─► page cache ─► disk;   ACKs ─► qdisc ─► tx virtqueue ─► vhost handle_tx
 *   ─► reverse uplink ─► reverse access ─► senders
 *
 * Uploads (torrent clients' uploadPeers) run the other way on the same peers' paths: a guest TCP
 * sender's clones ─► tx virtqueue ─► handle_tx ─► reverse uplink ─► the peer's reverse access link ─►
 * a remote receiver, whose pure ACKs take the peer's access link ─► uplink ─► tap ─► rx ring ─►
 * the guest's sender. Upload flows are numbered after the download flows.
 *
 * Host-local senders (origin "host") skip the uplink both ways: their path ends at the tap, and with
 * the guest's GUEST_TSO4 they send TSO frames of up to GSO_MAX_SIZE.
 *
 * Nothing here models behaviour; it only connects the models and maps scenario fields to their
 * parameters.
 */
import { TorrentClient } from "../guest/apps/torrent.ts";
import { Hog, hogSpec } from "../guest/apps/hog.ts";
import { EventPoll } from "../guest/fs/eventpoll.ts";
import { CAT_APP } from "../guest/sched/costs.ts";
import { Kernel, type KernelCode } from "../guest/sched/kernel.ts";
import { NapiSubsystem } from "../guest/sched/napi.ts";
import { Workqueues } from "../guest/sched/workqueue.ts";
import {
  FAULT_CTX_ANY,
  FAULT_CTX_PROCESS,
  FAULT_CTX_SOFTIRQ,
  FaultAttr,
  FaultInjection,
} from "../guest/mm/fault-inject.ts";
import { kernelEra, TCP_WMEM_DEFAULT, tcpWmemMax } from "../guest/kernel-era.ts";
import { Mm } from "../guest/mm/mm.ts";
import { OWNER_DRIVER_LIST, OWNER_PAGE_FRAG, OWNER_RX_RING, OWNER_SKB } from "../guest/mm/page-table.ts";
import type { KmemCache } from "../guest/mm/slab.ts";
import type { Shrinker } from "../guest/mm/shrinker.ts";
import type { MmTask } from "../guest/mm/task.ts";
import { IndirectTables } from "../guest/net/indirect-tables.ts";
import {
  type MmPort,
  SLAB_KMALLOC_1024,
  SLAB_KMALLOC_2048,
  SLAB_KMALLOC_32,
  SLAB_KMALLOC_4096,
  SLAB_KMALLOC_512,
  SLAB_SKBUFF_HEAD,
} from "../guest/net/mm-port.ts";
import { SkbPool } from "../guest/net/skb.ts";
import { GuestStack, StallTracker } from "../guest/net/stack.ts";
import { installTraceContext } from "../guest/sched/trace-context.ts";
import { TcpReceiver } from "../guest/net/tcp/receiver.ts";
import { GuestTcpSender } from "../guest/net/tcp/sender.ts";
import { nrFreeBufferPages, TcpMem, tcpMemDefaults } from "../guest/net/tcp/tcp-mem.ts";
import { BIG_SG, type DriverCosts } from "../guest/net/virtio_net/constants.ts";
import { txSkbAt, VirtnetTx } from "../guest/net/virtio_net/tx.ts";
import {
  createDriver,
  driverAvailPerAdd,
  isDriverNotInLinux,
} from "../guest/net/virtio_net/versions/index.ts";
import type { VirtnetDriver } from "../guest/net/virtio_net/virtnet.ts";
import { HostCpus } from "../host/pcpu.ts";
import { VhostNetRx } from "../host/vhost-net.ts";
import { FlowDemux, Link } from "../net/link.ts";
import { PacketPool } from "../net/packet.ts";
import { RemoteReceiver } from "../net/remote-receiver.ts";
import { CwndTotal, TcpSender } from "../net/tcp-sender.ts";
import { expandFlows, type FlowSpec } from "../scenario/flows.ts";
import { ALLOC_SITES, type FaultsConfig, type Scenario } from "../scenario/schema.ts";
import { Simulator } from "../sim/simulator.ts";
import { VirtqueueDevice } from "../virtio/device.ts";
import { VirtqueueDriver } from "../virtio/driver.ts";
import { IndirectPool, indirectPoolBytes } from "../virtio/indirect.ts";
import { VIRTIO_PCI_VRING_ALIGN, vringLayout } from "../virtio/layout.ts";

const PAGE = 4096;
/** A sender access link with no configured rate: fast enough never to be the bottleneck. */
const UNLIMITED_BPS = 1e12;
/** A remote peer's interface queue: ether_setup's dev->tx_queue_len = 1000 (net/ethernet/eth.c). */
const PEER_TXQUEUELEN = 1000;
/**
 * GSO_MAX_SIZE (include/linux/netdevice.h): sk_gso_max_size of a host-local socket whose route ends
 * at a tap with TSO on. QEMU turns the tap's TSO on (TUNSETOFFLOAD) when the guest negotiated
 * VIRTIO_NET_F_GUEST_TSO4, since the device may then hand it TCPv4 GSO frames (VIRTIO 1.x 5.1.6.4).
 */
const GSO_MAX_SIZE = 65536;
/**
 * The rx virtqueue's MSI-X vector: vp_request_msix_vectors (drivers/virtio/virtio_pci.c, v3.2)
 * names it "%s-%s" of the device and the queue, "virtio0-input", after "virtio0-config". Its irq
 * number is allocated at boot (assumption: 41, after the config vector's 40, as a 3.2 x86_64 KVM
 * guest's /proc/interrupts typically shows).
 */
const VIRTIO_NET_INPUT_IRQ = 41;
/** The tx virtqueue's vector, "virtio0-output", allocated right after the input one. */
const VIRTIO_NET_OUTPUT_IRQ = 42;

export interface SystemOptions {
  /** Run same-time events in a seeded random order (interleaving exploration). */
  permuteTies?: boolean;
  /** Check the page-ownership invariant after every event (slow; for tests). */
  checkInvariants?: boolean;
}

/** The memory model seen through the narrow port the network code uses. */
export class MmAdapter implements MmPort {
  readonly owners = {
    driverList: OWNER_DRIVER_LIST,
    rxRing: OWNER_RX_RING,
    skb: OWNER_SKB,
    pageFrag: OWNER_PAGE_FRAG,
  };
  /** The caches by the ids of mm-port.ts. */
  private readonly caches: KmemCache[] = [];
  constructor(readonly mm: Mm) {
    this.caches[SLAB_SKBUFF_HEAD] = mm.skbuffHeadCache;
    this.caches[SLAB_KMALLOC_32] = mm.kmallocCache(32);
    this.caches[SLAB_KMALLOC_512] = mm.kmallocCache(512);
    this.caches[SLAB_KMALLOC_1024] = mm.kmallocCache(1024);
    this.caches[SLAB_KMALLOC_2048] = mm.kmallocCache(2048);
    this.caches[SLAB_KMALLOC_4096] = mm.kmallocCache(4096);
  }
  get allocSite(): number {
    return this.mm.allocSite;
  }
  set allocSite(site: number) {
    this.mm.allocSite = site;
  }
  allocPage(gfp: number, owner: number): KernelCode<number> {
    return this.mm.allocPage(gfp, owner);
  }
  allocPageAtomic(gfp: number, owner: number): number {
    return this.mm.allocPageAtomic(gfp, owner);
  }
  freePage(pfn: number): void {
    this.mm.freePage(pfn);
  }
  allocPagesAtomic(gfp: number, order: number, owner: number): number {
    return this.mm.allocPagesAtomic(gfp, order, owner);
  }
  allocPageCounted(gfp: number, owner: number): KernelCode<number> {
    return this.mm.allocPageCounted(gfp, owner);
  }
  getPage(head: number): void {
    this.mm.getPage(head);
  }
  putPage(head: number): void {
    this.mm.putPage(head);
  }
  pageCount(head: number): number {
    return this.mm.pageCount(head);
  }
  setOwner(pfn: number, from: number, to: number): void {
    this.mm.setOwner(pfn, from, to);
  }
  registerShrinker(s: Shrinker): void {
    this.mm.shrinkers.register(s);
  }
  slabAlloc(cache: number, gfp: number): KernelCode<number> {
    return this.mm.kmemCacheAlloc(this.caches[cache]!, gfp);
  }
  slabAllocAtomic(cache: number, gfp: number): number {
    return this.mm.kmemCacheAllocAtomic(this.caches[cache]!, gfp);
  }
  slabFree(cache: number, obj: number): void {
    this.mm.kmemCacheFree(this.caches[cache]!, obj);
  }
}

export class System {
  readonly sim: Simulator;
  readonly k: Kernel;
  readonly napi: NapiSubsystem;
  readonly wq: Workqueues;
  readonly mm: Mm;
  readonly packets: PacketPool;
  readonly vq: VirtqueueDriver;
  readonly device: VirtqueueDevice;
  /** The transmit virtqueue (driver and device sides) and the driver's send queue with its qdisc. */
  readonly txVq: VirtqueueDriver;
  readonly txDevice: VirtqueueDevice;
  readonly tx: VirtnetTx;
  readonly host: VhostNetRx;
  readonly hostCpus: HostCpus;
  readonly skbs: SkbPool;
  readonly driver: VirtnetDriver;
  readonly stack: GuestStack;
  readonly stalls: StallTracker;
  readonly flows: FlowSpec[];
  readonly senders: TcpSender[] = [];
  /** The senders' cwnd, summed as it changes (the sampler's mean without a loop over flows). */
  readonly cwndTotal = new CwndTotal();
  readonly uplink: Link;
  readonly accessLinks: Link[] = [];
  readonly reverseUplink: Link;
  readonly reverseAccessLinks: Link[] = [];
  /** Uploads: the guest's senders and their remote receivers, by upload (flow id − flows.length). */
  readonly uploads: GuestTcpSender[] = [];
  readonly remoteReceivers: RemoteReceiver[] = [];
  /** The download flow of each upload's peer. */
  readonly uploadPeers: FlowSpec[] = [];
  readonly readerTasks: MmTask[] = [];
  /** The readers in torrent-client mode, in reader order. */
  readonly torrentClients: TorrentClient[] = [];
  /** Memory hogs, then memory spikes, in scenario order. */
  readonly hogs: Hog[] = [];
  /** tcp_mem, tcp_memory_allocated and tcp_memory_pressure of the guest's sockets. */
  readonly tcpMem: TcpMem;
  readonly driverName: string;
  readonly driverNotInLinux: boolean;
  readonly seed: number;
  /** Bytes the applications read, in all and after warm-up. */
  bytesReadTotal = 0;
  bytesReadAfterWarmup = 0;

  constructor(
    readonly scenario: Scenario,
    opts: SystemOptions = {},
  ) {
    const s = scenario;
    const g = s.guest;
    const c = g.costs;
    this.seed = s.seed;
    this.driverName = g.driver.version;
    this.driverNotInLinux = isDriverNotInLinux(this.driverName);
    const sim = new Simulator({ seed: this.seed, permuteTies: opts.permuteTies === true });
    this.sim = sim;

    // ---- guest kernel --------------------------------------------------------------------------
    const k = new Kernel(sim, {
      vcpus: g.vcpus,
      hz: g.hz,
      costs: { irq: c.irq, contextSwitch: c.contextSwitch, processOneWork: c.processOneWork },
    });
    this.k = k;
    installTraceContext(k);
    this.napi = new NapiSubsystem(k);
    this.wq = new Workqueues(k);
    const era = kernelEra(g.kernel);
    const mm = new Mm(k, {
      era,
      watermarkScaleFactor: g.mm.watermarkScaleFactor,
      memBytes: g.memory,
      minFreeKbytes: g.minFreeKbytes,
      kernelReservedBytes: g.baseMemory,
      dirtyRatio: g.dirtyRatio,
      dirtyBackgroundRatio: g.dirtyBackgroundRatio,
      dirtyExpireCentisecs: Math.round(g.dirtyExpire / 10_000_000),
      dirtyWritebackCentisecs: Math.round(g.dirtyWritebackInterval / 10_000_000),
      disk: { bandwidthBytesPerSec: s.apps.disk.bandwidth / 8, requestLatencyNs: s.apps.disk.latency },
      ...(g.swap !== undefined && {
        swap: {
          sizeBytes: g.swap.size,
          bandwidthBytesPerSec: g.swap.bandwidth / 8,
          latencyNs: g.swap.latency,
        },
      }),
      costs: {
        pageAllocFast: c.pageAlloc,
        slabAlloc: c.skbAlloc / 2,
        reclaimScanPage: c.reclaimPerPage,
        anonFault: c.pageFault,
        allocFailWarning: c.allocFailWarning,
      },
    });
    this.mm = mm;
    mm.faults = faultInjection(s.faults.alloc, s.duration, sim);
    const mmPort = new MmAdapter(mm);
    this.packets = new PacketPool(8192);
    const pageNext = new Int32Array(mm.nPages).fill(-1);
    this.skbs = new SkbPool(mmPort, pageNext, 4096);

    // ---- the rx and tx virtqueues in guest memory, each ring followed by its indirect tables ----------
    const ring = g.driver.ringSize;
    const layout = vringLayout(ring, 0, "legacy");
    const poolEntries = g.driver.rxMode === "big" ? BIG_SG : 2;
    const rxBytes = layout.bytes + indirectPoolBytes(ring, poolEntries);
    const txRing = g.driver.txRingSize;
    const txLayout = vringLayout(
      txRing,
      Math.ceil(rxBytes / VIRTIO_PCI_VRING_ALIGN) * VIRTIO_PCI_VRING_ALIGN,
      "legacy",
    );
    const txPoolAt = txLayout.base + txLayout.bytes;
    // xmit_skb's 2 sg entries (header, linear data) per skb.
    const memory = new ArrayBuffer(txPoolAt + indirectPoolBytes(txRing, 2));
    const pool = new IndirectPool(memory.byteLength, layout.bytes, ring, poolEntries);
    const indirect = new IndirectTables(mmPort, pool);
    const txIndirect = new IndirectTables(mmPort, new IndirectPool(memory.byteLength, txPoolAt, txRing, 2));
    const features = g.driver.features;
    this.vq = new VirtqueueDriver(memory, layout, {
      name: "rx",
      indirect: features.indirectDesc,
      eventIdx: features.eventIdx,
      availPerAdd: driverAvailPerAdd(this.driverName),
      allocator: indirect,
    });
    this.device = new VirtqueueDevice(memory, layout, {
      name: "rx",
      indirect: features.indirectDesc,
      eventIdx: features.eventIdx,
    });
    const txOpts = { name: "tx", indirect: features.indirectDesc, eventIdx: features.eventIdx };
    this.txVq = new VirtqueueDriver(memory, txLayout, { ...txOpts, allocator: txIndirect });
    this.txDevice = new VirtqueueDevice(memory, txLayout, txOpts);

    // ---- host ---------------------------------------------------------------------------------------
    const hc = s.host.costs;
    const packets = this.packets;
    this.host = new VhostNetRx(
      sim,
      this.device,
      {
        frameLen: (p) => packets.wireLen[p]!,
        gsoSegs: (p) => (packets.gsoSize[p]! > 0 ? Math.ceil(packets.len[p]! / packets.gsoSize[p]!) : 0),
        free: (p) => packets.free(p),
      },
      {
        perPacket: hc.perPacket,
        perByte: hc.copyPerKiB / 1024,
        wakeup: 4_000,
        kickLatency: hc.kickLatency,
        irqLatency: hc.irqLatency,
      },
      { txQueueLen: s.host.tapQueueLen, oneQueue: s.host.oneQueue, qdiscLimit: s.host.qdiscLimit },
      g.driver.rxMode === "mergeable",
    );

    // ---- network ------------------------------------------------------------------------------------
    this.flows = expandFlows(s);
    const toSenders = new FlowDemux(packets);
    const toReverseAccess = new FlowDemux(packets);
    // Every outage drops packets towards the guest; only "both" drops the guest's ACKs too.
    const outagesFor = (link: string, towardsGuest = true) =>
      s.faults.linkOutages
        .filter((o) => o.link === link && (towardsGuest || o.direction === "both"))
        .map((o) => [o.at, o.at + o.duration] as const);
    this.uplink = new Link(
      sim,
      packets,
      {
        name: "uplink",
        rateBps: s.network.uplink.rate,
        delayNs: 0,
        queueLimitPackets: s.network.uplink.queueLen,
        outages: outagesFor("uplink"),
      },
      { receive: (p) => this.host.deliver(p) },
    );
    this.reverseUplink = new Link(
      sim,
      packets,
      {
        name: "uplink-reverse",
        rateBps: s.network.uplink.rate,
        delayNs: 0,
        outages: outagesFor("uplink", false),
      },
      toReverseAccess,
    );
    // Each remote peer has its own access path (its rate, half the RTT each way, its loss), and
    // all of them share the host's uplink. The peer's queue is a Linux default txqueuelen.
    // A host-local sender's path ends at the tap (bridge → tap) and its ACKs skip the uplink.
    const toTap = { receive: (p: number) => this.host.deliver(p) };
    // Upload u mirrors download flow uploadOf[u] (the same peer) and is flow flows.length + u.
    const uploadOf: FlowSpec[] = [];
    s.apps.readers.forEach((r, i) => {
      const n = r.torrent?.uploadPeers ?? 0;
      if (n > 0) uploadOf.push(...this.flows.filter((f) => f.reader === i).slice(0, n));
    });
    this.uploadPeers.push(...uploadOf);
    const nFlows = this.flows.length + uploadOf.length;
    // The download flow whose peer each flow (download or upload) talks to.
    const peerOf = new Int32Array(nFlows);
    for (const f of this.flows) peerOf[f.id] = f.id;
    uploadOf.forEach((f, u) => {
      peerOf[this.flows.length + u] = f.id;
    });
    const hostLocal = new Uint8Array(nFlows);
    for (const f of this.flows) {
      const grp = s.network.senders[f.group]!;
      const half = Math.floor(grp.rtt / 2);
      const rateBps = grp.rate ?? UNLIMITED_BPS;
      const name = `${grp.name}[${f.index}]`;
      if (grp.origin === "host") hostLocal[f.id] = 1;
      // Plain literals, not spreads of a shared part: a spread costs microseconds per link.
      this.accessLinks.push(
        new Link(
          sim,
          packets,
          {
            name,
            rateBps,
            delayNs: half,
            queueLimitPackets: PEER_TXQUEUELEN,
            lossProb: grp.loss,
            outages: outagesFor(grp.name),
          },
          grp.origin === "host" ? toTap : this.uplink,
        ),
      );
      this.reverseAccessLinks.push(
        new Link(
          sim,
          packets,
          {
            name: `${name}-reverse`,
            rateBps,
            delayNs: grp.rtt - half,
            queueLimitPackets: PEER_TXQUEUELEN,
            outages: outagesFor(grp.name, false),
          },
          toSenders,
        ),
      );
    }

    // ---- guest stack, driver and sockets ------------------------------------------------------------
    this.stalls = new StallTracker(s.metrics.stallThreshold, s.warmup);
    // Where the guest's transmitted frames go once the host has them: host-local senders' ACKs
    // stay on the host (their path ends at the tap), the rest leave over the uplink.
    for (let u = 0; u < uploadOf.length; u++) hostLocal[this.flows.length + u] = hostLocal[uploadOf[u]!.id]!;
    const toSendersFromHost = (p: number) => {
      const flow = packets.flow[p]!;
      if (hostLocal[flow] === 1) this.reverseAccessLinks[peerOf[flow]!]!.receive(p);
      else this.reverseUplink.receive(p);
    };
    const driverCosts: DriverCosts = {
      addBuf: c.addBuf,
      receiveBuf: c.receiveBuf,
      copyPerByte: c.copyPerKiB / 1024,
      kick: c.kick,
      napiPoll: c.napiPoll,
    };
    this.driver = createDriver(
      this.driverName,
      {
        k,
        napi: this.napi,
        wq: this.wq,
        mm: mmPort,
        vq: this.vq,
        indirect,
        skbs: this.skbs,
        notifyHost: () => this.host.guestKick(),
        packetAt: (head) => this.host.takePacket(head),
        numBuffersAt: (head) => this.host.numBuffersAtHead[head]!,
        netifReceiveSkb: (skb) => this.stack.netifReceiveSkb(skb),
        dropPacket: (p) => packets.free(p),
        hostQueueHasRoom: () => this.host.tap.hasRoom(),
        costs: driverCosts,
      },
      {
        mode: g.driver.rxMode,
        rfcOomInit: g.driver.rfcOomInit,
        rxAllocateBatch: g.driver.rxAllocateBatch,
        napiWeight: g.driver.napiWeight,
      },
    );
    const driver = this.driver;
    const vq = this.vq;
    const irqCpu = g.driver.irqCpu;
    const txVq = this.txVq;
    const tx = new VirtnetTx(
      {
        k,
        napi: this.napi,
        vq: txVq,
        indirect: txIndirect,
        skbs: this.skbs,
        notifyHost: () => this.host.guestKickTx(),
        costs: { kick: c.kick, skbFree: c.skbFree },
      },
      { napiTx: driver.napiTx, txQueueLen: g.driver.txQueueLen, hdrLen: driver.hdrLen },
    );
    this.tx = tx;
    driver.tx = tx;
    this.stack = new GuestStack(
      k,
      packets,
      this.skbs,
      { tcpRx: c.tcpRx, ackTx: c.ackTx, skbFree: c.skbFree, copyPerByte: c.copyPerKiB / 1024 },
      tx,
      this.stalls,
      toSendersFromHost,
    );
    // The tx queue's vring_interrupt: the callback (skb_xmit_done) only when something was used.
    const vringInterruptTx = () => {
      if (txVq.moreUsed()) tx.skbXmitDone();
    };
    k.requestIrq(VIRTIO_NET_OUTPUT_IRQ, "virtio0-output");
    const evTxIrq = sim.register("guest.virtio_tx_irq", () =>
      k.hardirq(irqCpu, vringInterruptTx, VIRTIO_NET_OUTPUT_IRQ),
    );
    const skbs = this.skbs;
    this.host.connectTx({
      dev: this.txDevice,
      packetAt: (gpa) => skbs.pkt[txSkbAt(gpa)]!,
      send: toSendersFromHost,
      irq: { interrupt: () => sim.post(sim.now + hc.irqLatency, evTxIrq, 0, 0) },
    });
    // vring_interrupt: IRQ_NONE unless there are used buffers, else the callback (skb_recv_done).
    const vringInterrupt = () => {
      if (vq.moreUsed()) driver.skbRecvDone();
    };
    k.requestIrq(VIRTIO_NET_INPUT_IRQ, "virtio0-input");
    const evIrq = sim.register("guest.virtio_irq", () =>
      k.hardirq(irqCpu, vringInterrupt, VIRTIO_NET_INPUT_IRQ),
    );
    this.host.connectGuest({ interrupt: () => sim.post(sim.now + hc.irqLatency, evIrq, 0, 0) });

    const startRng = sim.rng("flows.start");
    // Each reader waits on an epoll instance over its sockets (libtorrent, and any server of many
    // sockets, uses epoll_wait).
    const readerPoll = s.apps.readers.map((r) => new EventPoll(k, r.name));
    const rmem = g.tcp.rmem;
    // tcp_init sizes tcp_mem from the memory free at boot
    this.tcpMem = new TcpMem(
      tcpMemDefaults(nrFreeBufferPages(mm.nPages, mm.wmark.high), era.tcpMemDivisor),
      rmem.min,
    );
    for (const f of this.flows) {
      const reader = s.apps.readers[f.reader]!;
      const rcvbuf = reader.rcvbuf === "auto" ? rmem.default : reader.rcvbuf;
      const rx = new TcpReceiver(sim, packets, g.tcp.ackSkbs ? this.stack : this.stack.acksWithoutSkbs, {
        flow: f.id,
        hz: g.hz,
        rcvbuf,
        rmemMax: rmem.max,
        userLocked: reader.rcvbuf !== "auto",
        advWinScale: g.tcp.advWinScale,
        receiver61: era.tcpReceiver61,
        delayedAck: g.tcp.delayedAck,
        sack: g.tcp.sack,
        handshakeRttNs: f.rtt,
        moderateRcvbuf: g.tcp.moderateRcvbuf,
        release: this.stack,
        alloc: this.stack,
        tcpMem: this.tcpMem,
        timestamps: g.tcp.timestamps,
        // The delayed-ACK timer runs from the timer softirq of the CPU taking the interrupts.
        timerContext: (expire) => k.timerSoftirq(irqCpu, expire),
      });
      const ep = readerPoll[f.reader]!;
      const item = ep.add();
      rx.onDataReady = () => ep.callback(item);
      this.stack.receivers[f.id] = rx;
      toReverseAccess.set(f.id, this.reverseAccessLinks[f.id]!);
      const sender = new TcpSender(sim, packets, this.accessLinks[f.id]!, {
        flow: f.id,
        cc: f.cc,
        hystart: f.hystart,
        initCwnd: f.initCwnd,
        sack: g.tcp.sack,
        // Timestamps are used only when both ends' SYNs carry them: the guest's sysctl decides.
        timestamps: g.tcp.timestamps,
        hz: 1000,
        bytes: f.flow.kind === "bulk" ? Number.POSITIVE_INFINITY : f.flow.bytes,
        // The window the guest's SYN or SYN-ACK carried, unscaled (RFC 7323 §2.2): its
        // tcp_select_initial_window, which a receive buffer locked small makes less than 10 MSS.
        initialPeerWindow: rx.window,
        handshakeRttNs: f.rtt,
        gsoMaxSize: hostLocal[f.id] === 1 && features.guestTso4 ? GSO_MAX_SIZE : 0,
        cwndTotal: this.cwndTotal,
      });
      toSenders.set(f.id, sender);
      const grp = s.network.senders[f.group]!;
      sender.start(f.start + Math.floor(startRng.uniform() * grp.startJitter));
      this.senders.push(sender);
    }
    // Uploads: the guest's sockets towards the same peers, established when the download flow opens.
    const wmemMax = tcpWmemMax(era, nrFreeBufferPages(mm.nPages, mm.wmark.high));
    uploadOf.forEach((f, u) => {
      const flow = this.flows.length + u;
      const snd = new GuestTcpSender(k, this.stack, sim, packets, {
        flow,
        hz: g.hz,
        sack: g.tcp.sack,
        timestamps: g.tcp.timestamps,
        handshakeRttNs: f.rtt,
        wmemDefault: TCP_WMEM_DEFAULT,
        wmemMax,
        sender61: era.tcpSender61,
        tcpMem: this.tcpMem,
        copyPerByte: c.copyPerKiB / 1024,
        rng: sim.rng(`tcp.${flow}.vm_wait`),
        timerContext: (expire) => k.timerSoftirq(irqCpu, expire),
      });
      this.stack.senders[flow] = snd;
      snd.start(f.start);
      this.uploads.push(snd);
      const rr = new RemoteReceiver(sim, packets, this.accessLinks[f.id]!, {
        flow,
        handshakeRttNs: f.rtt,
        sack: g.tcp.sack,
        timestamps: g.tcp.timestamps,
      });
      this.remoteReceivers.push(rr);
      toReverseAccess.set(flow, this.reverseAccessLinks[f.id]!);
      toSenders.set(flow, rr);
    });

    // ---- threads: probe, readers, memory hogs and spikes -------------------------------------------
    k.spawn("virtnet_probe", 0, () => driver.probe());
    s.apps.readers.forEach((r, i) => {
      const task = mm.registerTask(r.name);
      this.readerTasks.push(task);
      const mine = this.flows.filter((f) => f.reader === i).map((f) => this.stack.receivers[f.id]!);
      if (r.torrent === undefined) {
        k.spawn(r.name, r.cpu, () => this.reader(r, mine, task, readerPoll[i]!), r.nice);
        return;
      }
      const ups = this.uploads.filter((_, u) => uploadOf[u]!.reader === i);
      const rate = r.torrent.uploadRate;
      const client = new TorrentClient(
        k,
        mm,
        task,
        mine,
        readerPoll[i]!,
        sim.rng(`torrent.${r.name}.pieces`),
        {
          ...r.torrent,
          readSize: r.readSize,
          copyPerKiB: c.copyPerKiB,
          hashPerKiB: r.perKiBCost,
          uploadRate: rate === "unlimited" ? 0 : rate / 8,
        },
        this.countReadFn,
        ups,
        ups.length > 0 ? sim.rng(`torrent.${r.name}.uploads`) : null,
      );
      this.torrentClients.push(client);
      k.spawn(r.name, r.cpu, () => this.torrentNetwork(r, task, client), r.nice);
      k.spawn(`${r.name}-disk`, r.cpu, () => client.diskThread(), r.nice);
      if (ups.length > 0) k.spawn(`${r.name}-upload`, r.cpu, () => client.uploadThread(), r.nice);
    });
    s.apps.memoryHogs.forEach((h, i) => {
      const restart =
        h.restart === undefined ? null : { delay: h.restart.delay, count: h.restart.count ?? -1 };
      const spec = { name: `hog${i}`, cpu: h.cpu, at: h.at, pages: Math.ceil(h.size / PAGE), until: -1 };
      this.hogs.push(
        new Hog(k, mm, { ...spec, touchRate: h.touchRate, oomScoreAdj: h.oomScoreAdj, restart }),
      );
    });
    s.faults.memorySpikes.forEach((sp, i) => {
      const spec = { name: `spike${i}`, cpu: sp.cpu, at: sp.at, pages: Math.ceil(sp.size / PAGE) };
      this.hogs.push(new Hog(k, mm, hogSpec({ ...spec, until: sp.at + sp.duration })));
    });

    // ---- the host's CPUs under the vCPUs ------------------------------------------------------------
    const hcpu = s.host.cpu;
    this.hostCpus = new HostCpus(sim, k, {
      vcpuPcpus: Array.from({ length: g.vcpus }, (_, v) => hcpu.vcpuPcpus[v] ?? v),
      vhostPcpu: hcpu.vhostPcpu === "own" ? -1 : hcpu.vhostPcpu,
      schedLatency: hcpu.schedLatency,
      coTenants: hcpu.coTenants,
      vcpuOutages: hcpu.vcpuOutages,
    });
    if (this.hostCpus.vhostVcpu >= 0) this.host.sharedCpu = this.hostCpus;

    if (opts.checkInvariants === true) sim.afterEvent = () => mm.checkInvariant();
  }

  /** Bytes the applications read (the run's goodput): at each recv() that returned data. */
  private countRead(bytes: number): void {
    this.bytesReadTotal += bytes;
    if (this.k.now >= this.scenario.warmup) this.bytesReadAfterWarmup += bytes;
  }
  private readonly countReadFn = (bytes: number): void => this.countRead(bytes);

  /** A torrent client's network thread, after faulting in the process's resident memory. */
  private *torrentNetwork(
    r: Scenario["apps"]["readers"][number],
    task: MmTask,
    client: TorrentClient,
  ): KernelCode {
    yield* this.mm.allocAnon(task, Math.ceil(r.memory / PAGE));
    yield* client.networkThread();
  }

  /**
   * A reader application: recv() up to readSize bytes from the sockets on its epoll ready list, in
   * the list's round-robin order (eventpoll.ts), pay the copy and its own per-KiB processing, and
   * optionally write what it read to a file (page cache, dirty throttling). Sleeps in epoll_wait when
   * no socket is readable.
   */
  private *reader(
    r: Scenario["apps"]["readers"][number],
    socks: TcpReceiver[],
    task: MmTask,
    ep: EventPoll,
  ): KernelCode {
    const k = this.k;
    const perKiB = this.scenario.guest.costs.copyPerKiB + r.perKiBCost;
    yield* this.mm.allocAnon(task, Math.ceil(r.memory / PAGE));
    for (;;) {
      let got = 0;
      while (got < r.readSize) {
        const i = ep.take();
        if (i < 0) break;
        const sk = socks[i]!;
        got += sk.read(r.readSize - got);
        ep.done(i, sk.readableBytes > 0);
      }
      if (got === 0) {
        yield k.waitOn(ep.wq);
        continue;
      }
      k.charge((got / 1024) * perKiB, CAT_APP);
      yield k.cpu();
      this.countRead(got);
      if (r.writeToDisk) yield* this.mm.writeFile(task, got);
    }
  }
}

const FAULT_CONTEXT_CODES = { any: FAULT_CTX_ANY, softirq: FAULT_CTX_SOFTIRQ, process: FAULT_CTX_PROCESS };

/**
 * The scenario's allocation fault injectors, each drawing from its own stream "faults.alloc[i]";
 * null without any, so the allocator's entry points cost one comparison more.
 */
function faultInjection(specs: FaultsConfig["alloc"], runEnd: number, sim: Simulator): FaultInjection | null {
  if (specs.length === 0) return null;
  const fi = new FaultInjection();
  specs.forEach((f, i) => {
    const sites = f.sites === "any" ? ALLOC_SITES : f.sites;
    let siteMask = 0;
    for (const name of sites) siteMask |= 1 << ALLOC_SITES.indexOf(name);
    const opts = {
      kind: f.type,
      probability: f.probability,
      interval: f.interval,
      times: f.times,
      space: f.space,
      ignoreGfpWait: f.ignoreGfpWait,
      // fail_page_alloc's defaults (mm/page_alloc.c): ignore_gfp_highmem = 1, min_order = 1.
      ignoreGfpHighmem: f.ignoreGfpHighmem ?? true,
      minOrder: f.minOrder ?? 1,
      siteMask,
      context: FAULT_CONTEXT_CODES[f.context],
      start: f.at,
      end: f.duration === undefined ? runEnd : f.at + f.duration,
    };
    fi.add(new FaultAttr(opts, sim.rng(`faults.alloc[${i}]`), ALLOC_SITES.length));
  });
  return fi;
}
