/**
 * The host's virtio-net backend, shaped like Linux 3.2 drivers/vhost/net.c handle_rx (kernel-facts.md
 * §6.2), with handle_tx for the guest's transmit queue on the same worker: a worker that, woken by the
 * tap (a packet arrived) or by the guest's kick,
 * moves packets from the tap socket into the buffers the guest posted. With no buffer available it
 * re-enables guest notifications, re-checks once ("they have slipped one in as we were doing
 * that"), and otherwise waits for the kick, leaving packets queued in the tap.
 *
 * A frame may need several buffers (get_rx_bufs): with VIRTIO_NET_F_MRG_RXBUF the worker pops
 * chains until their writable bytes hold the header and the frame (quota UIO_MAXIOV) and writes
 * num_buffers into the first chain's header; without it one chain must hold the frame (quota 1:
 * a big-mode buffer takes a 64 KiB GSO frame). When the ring holds too few buffers the popped ones
 * are put back (vhost_discard_vq_desc) and the worker waits for the kick as if it had found none:
 * a frame is never split into several packets.
 *
 * Each frame costs host CPU time; a pass handles frames back to back, then publishes the used
 * ring and signals the guest at the end of that time, once per pass (vhost_add_used_and_signal_n,
 * subject to VRING_AVAIL_F_NO_INTERRUPT / used_event suppression). A pass stops after
 * VHOST_NET_WEIGHT bytes and re-queues itself.
 */
import { ModelError, type Simulator } from "../sim/simulator.ts";
import type { Ns } from "../sim/time.ts";
import {
  NUM_BUFFERS_OFFSET,
  UIO_MAXIOV,
  VIRTIO_NET_HDR_LEN,
  VIRTIO_NET_HDR_MRG_RXBUF_LEN,
  type VirtqueueDevice,
} from "../virtio/device.ts";
import { DEFAULT_TAP, TapDevice, type TapOptions } from "./tap.ts";
import { TP_VHOST_NO_BUFFER, TP_VHOST_SIGNAL } from "../sim/trace.ts";

/** VHOST_NET_WEIGHT (drivers/vhost/net.c): bytes per handle_rx pass before requeueing. */
export const VHOST_NET_WEIGHT = 0x80000;

export interface HostCosts {
  /** Host CPU per packet copied into the guest (recvmsg + copy to guest memory + add_used). */
  perPacket: Ns;
  /** Host CPU per byte copied. */
  perByte: number;
  /** Waking the vhost worker (sk_data_ready / eventfd → vhost_poll_queue → worker runs). */
  wakeup: Ns;
  /** Guest kick (ioeventfd) until the worker is woken. */
  kickLatency: Ns;
  /** Interrupt injection (irqfd) until the guest's hardirq runs. */
  irqLatency: Ns;
}

export const DEFAULT_HOST_COSTS: HostCosts = {
  // Assumptions for a 2012 host: ~1 µs of vhost work per MTU packet plus a memcpy at ~4 GB/s,
  // a few µs to wake a kernel thread, and an interrupt delivered in a few µs through irqfd.
  perPacket: 800,
  perByte: 0.25,
  wakeup: 4_000,
  kickLatency: 3_000,
  irqLatency: 3_000,
};

export interface HostPackets {
  /** Frame length in bytes as the tap delivers it (Ethernet header + IP packet). */
  frameLen(pkt: number): number;
  /** MSS segments a GSO frame carries (payload / gso_size, rounded up); 0 for an ordinary frame. */
  gsoSegs(pkt: number): number;
  free(pkt: number): void;
}

/** The pCPU the worker shares with a vCPU (src/host/pcpu.ts): each pass's CPU time preempts it. */
export interface VhostCpu {
  vhostRan(ns: Ns): void;
}

/** Where the backend delivers interrupts: the guest's vring_interrupt. */
export interface GuestIrq {
  interrupt(): void;
}

/**
 * The transmit side of the same device (handle_tx): the tx virtqueue, how the host finds the frame a
 * chain's first descriptor points at, where sent frames go (tap → bridge → the network) and the
 * guest's tx interrupt.
 */
export interface VhostTx {
  dev: VirtqueueDevice;
  /** The frame in the guest buffer at this guest-physical address (the model's payload). */
  packetAt(gpa: number): number;
  /** sendmsg on the tap socket: the frame leaves for the network. */
  send(pkt: number): void;
  irq: GuestIrq;
}

export class VhostNetRx {
  readonly tap: TapDevice;
  /** What the device wrote into each head's buffer (the model's stand-in for payload bytes). */
  readonly packetAtHead: Int32Array;
  /** hdr.num_buffers written into the first chain of each frame, by that chain's head. */
  readonly numBuffersAtHead: Int32Array;
  /** get_rx_bufs' vq->heads: the chains of the frame being placed and the bytes each takes. */
  private readonly rxHeads: Int32Array;
  private readonly rxLens: Int32Array;
  /** Guest address of the first chain's num_buffers field (-1 when it lies outside guest memory). */
  private numBuffersAddr = -1;
  private readonly mergeable: boolean;
  private busyUntil = 0;
  private scheduled = false;
  /** Waiting for the guest's kick (notification enabled, ring empty). */
  waitingForKick = false;
  private readonly evHandleRx: number;
  private readonly evSignal: number;
  private readonly hdrLen: number;
  private pendingSignal = false;
  private irq: GuestIrq | null = null;
  /** Set when the worker shares a vCPU's pCPU. */
  sharedCpu: VhostCpu | null = null;
  /** Counters, named like Firecracker's net metrics where they match. */
  rxPacketsCount = 0;
  rxBytesCount = 0;
  /**
   * Passes that stopped for want of buffers (no_rx_avail_buffer): none available, or too few for
   * the frame at the head of the tap queue (then also counted in rxTooFewBuffers).
   */
  noRxAvailBuffer = 0;
  /** Waits where some buffers were posted but not enough for the next frame (put back, not split). */
  rxTooFewBuffers = 0;
  /** Frames written across more than one buffer (num_buffers > 1), buffers used in all, the most. */
  rxMultiBufferFrames = 0;
  rxBuffersUsed = 0;
  rxMaxNumBuffers = 0;
  /** GSO frames delivered and the MSS segments they carry (ceil(payload / gso_size)). */
  rxGsoFrames = 0;
  rxGsoSegments = 0;
  /** Frames too large for the buffers the quota allows: truncated and discarded (handle_rx overrun). */
  rxOverruns = 0;
  /** Kicks received from the guest (rx_queue_event_count). */
  rxQueueEventCount = 0;
  interruptsInjected = 0;
  busyNs = 0;
  /** handle_tx: frames sent, guest kicks on the tx queue, tx interrupts injected. */
  txPacketsCount = 0;
  txBytesCount = 0;
  txQueueEventCount = 0;
  txInterruptsInjected = 0;
  private tx: VhostTx | null = null;
  private txScheduled = false;
  private pendingTxSignal = false;
  private evHandleTx = -1;
  private evTxSignal = -1;

  constructor(
    private readonly sim: Simulator,
    readonly dev: VirtqueueDevice,
    private readonly packets: HostPackets,
    readonly costs: HostCosts,
    tap: TapOptions = DEFAULT_TAP,
    mergeable = false,
  ) {
    this.mergeable = mergeable;
    this.hdrLen = mergeable ? VIRTIO_NET_HDR_MRG_RXBUF_LEN : VIRTIO_NET_HDR_LEN;
    this.packetAtHead = new Int32Array(dev.size).fill(-1);
    this.numBuffersAtHead = new Int32Array(dev.size);
    this.rxHeads = new Int32Array(dev.size);
    this.rxLens = new Int32Array(dev.size);
    this.tap = new TapDevice(
      tap,
      (p) => packets.free(p),
      () => this.wake(),
    );
    this.tap.trace = sim.trace;
    this.evHandleRx = sim.register("vhost.handle_rx", () => this.handleRx());
    this.evSignal = sim.register("vhost.publish_and_signal", () => this.publishAndSignal());
  }

  connectGuest(irq: GuestIrq): void {
    this.irq = irq;
  }

  /** Attaches the tx virtqueue; its work shares this worker's time (one vhost thread per device). */
  connectTx(tx: VhostTx): void {
    this.tx = tx;
    this.evHandleTx = this.sim.register("vhost.handle_tx", () => this.handleTx());
    this.evTxSignal = this.sim.register("vhost.tx_signal", () => this.publishTxAndSignal());
  }

  /** The guest's kick on the tx queue (handle_tx_kick). */
  guestKickTx(): void {
    this.txQueueEventCount++;
    if (this.txScheduled) return;
    this.txScheduled = true;
    this.sim.post(Math.max(this.sim.now + this.costs.kickLatency, this.busyUntil), this.evHandleTx, 0, 0);
  }

  /**
   * handle_tx (drivers/vhost/net.c, v3.2): send every available frame to the tap, each used with
   * length 0 (vhost_add_used_and_signal); with nothing left, re-enable kicks and re-check once; stop
   * after VHOST_NET_WEIGHT bytes and requeue. Frames leave at the pass's start; used entries are
   * published, and the guest signalled subject to its suppression, once at the end of its CPU time.
   */
  private handleTx(): void {
    this.txScheduled = false;
    const now = this.sim.now;
    if (this.busyUntil > now) {
      this.txScheduled = true;
      this.sim.post(this.busyUntil, this.evHandleTx, 0, 0);
      return;
    }
    const tx = this.tx!;
    const dev = tx.dev;
    let cost = 0;
    let total = 0;
    let added = 0;
    dev.disableNotification();
    for (;;) {
      const head = dev.popChain();
      if (head < 0) {
        if (dev.enableNotification()) {
          dev.disableNotification();
          continue;
        }
        break;
      }
      const chain = dev.chain;
      const pkt = tx.packetAt(chain.addr[0]!);
      const len = this.packets.frameLen(pkt);
      dev.addUsed(head, 0);
      added++;
      cost += this.costs.perPacket + len * this.costs.perByte;
      this.txPacketsCount++;
      this.txBytesCount += len;
      tx.send(pkt);
      total += len;
      if (total >= VHOST_NET_WEIGHT) {
        this.txScheduled = true;
        this.sim.post(now + Math.round(cost), this.evHandleTx, 0, 0);
        break;
      }
    }
    this.workerRan(now, cost);
    if (added > 0 && !this.pendingTxSignal) {
      this.pendingTxSignal = true;
      this.sim.post(this.busyUntil, this.evTxSignal, 0, 0);
    }
  }

  /** The worker's pass from `now` took `cost` ns: busy until then, charged to the host CPU it shares. */
  private workerRan(now: number, cost: number): void {
    this.busyUntil = now + Math.round(cost);
    this.busyNs += cost;
    if (this.sharedCpu !== null && this.busyUntil > now) this.sharedCpu.vhostRan(this.busyUntil - now);
  }

  private publishTxAndSignal(): void {
    this.pendingTxSignal = false;
    const dev = this.tx!.dev;
    dev.publishUsed();
    if (dev.needsNotification()) {
      this.txInterruptsInjected++;
      this.tx!.irq.interrupt();
    }
  }

  /** A frame from the host network for the guest (bridge → tap). */
  deliver(pkt: number): void {
    this.tap.xmit(pkt);
  }

  /** The guest's kick on the rx queue (vq->notify → ioeventfd). */
  guestKick(): void {
    this.rxQueueEventCount++;
    this.waitingForKick = false;
    this.schedule(this.costs.kickLatency);
  }

  private wake(): void {
    // vhost_poll on the tap socket wakes the worker whenever data arrives, even while waiting for
    // a kick; handle_rx then finds no buffer and stops again.
    this.schedule(this.costs.wakeup);
  }

  private schedule(latency: Ns): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.sim.post(Math.max(this.sim.now + latency, this.busyUntil), this.evHandleRx, 0, 0);
  }

  private handleRx(): void {
    this.scheduled = false;
    const now = this.sim.now;
    if (this.busyUntil > now) {
      this.scheduled = true;
      this.sim.post(this.busyUntil, this.evHandleRx, 0, 0);
      return;
    }
    const dev = this.dev;
    const tap = this.tap;
    let cost = 0;
    let total = 0;
    let added = 0;
    dev.disableNotification();
    // get_rx_bufs' quota: any number of chains with MRG_RXBUF, else the frame must fit one.
    const quota = this.mergeable ? UIO_MAXIOV : 1;
    for (;;) {
      const pkt = tap.peek();
      if (pkt < 0) break;
      const len = this.packets.frameLen(pkt);
      const headcount = this.getRxBufs(len + this.hdrLen, quota);
      if (headcount > quota) {
        // "On overrun, truncate and discard" (3.2.71 handle_rx): the frame is lost, not split.
        this.rxOverruns++;
        this.packets.free(tap.read());
        continue;
      }
      if (headcount === 0) {
        if (dev.enableNotificationVhost()) {
          // They have slipped one in as we were doing that: check again.
          dev.disableNotification();
          continue;
        }
        // Nothing new? Wait for eventfd to tell us they refilled.
        this.noRxAvailBuffer++;
        this.waitingForKick = true;
        const tr = this.sim.trace;
        if (tr.on[TP_VHOST_NO_BUFFER] !== 0)
          tr.emitHost(
            TP_VHOST_NO_BUFFER,
            "vhost-net",
            1,
            `tap_queued=${tap.queued} qdisc_queued=${tap.qdiscQueued} frame_len=${len}`,
          );
        break;
      }
      tap.read();
      const first = this.rxHeads[0]!;
      if (this.mergeable) dev.writeGuestU16(this.numBuffersAddr, headcount);
      // vhost_add_used_n: every chain of the frame, in order, before one publish.
      for (let i = 0; i < headcount; i++) dev.addUsed(this.rxHeads[i]!, this.rxLens[i]!);
      if (this.packetAtHead[first]! >= 0) {
        throw new ModelError(`vhost: head ${first} reused before the guest took its packet`);
      }
      this.packetAtHead[first] = pkt;
      this.numBuffersAtHead[first] = headcount;
      this.rxBuffersUsed += headcount;
      if (headcount > 1) this.rxMultiBufferFrames++;
      if (headcount > this.rxMaxNumBuffers) this.rxMaxNumBuffers = headcount;
      const segs = this.packets.gsoSegs(pkt);
      if (segs > 0) {
        this.rxGsoFrames++;
        this.rxGsoSegments += segs;
      }
      added += headcount;
      cost += this.costs.perPacket + len * this.costs.perByte;
      this.rxPacketsCount++;
      this.rxBytesCount += len;
      total += len + this.hdrLen;
      if (total >= VHOST_NET_WEIGHT) {
        this.schedule(0);
        break;
      }
    }
    this.workerRan(now, cost);
    if (added > 0 && !this.pendingSignal) {
      this.pendingSignal = true;
      this.sim.post(this.busyUntil, this.evSignal, 0, 0);
    }
  }

  /**
   * get_rx_bufs (drivers/vhost/net.c): pops chains until they hold `datalen` bytes (header and
   * frame) or `quota` chains were taken, noting each head and the bytes it receives (the whole
   * chain but for the last). Returns the chain count; 0, with every popped chain put back
   * (vhost_discard_vq_desc), when the ring runs out first; quota + 1 when the frame does not fit
   * in `quota` chains (overrun). Bytes are written as each chain is popped, since the model's one
   * DescriptorChain is reused; a put-back chain's writes land outside guest memory or are
   * overwritten by the next frame, as a discarded recvmsg's would be.
   */
  private getRxBufs(datalen: number, quota: number): number {
    const dev = this.dev;
    const chain = dev.chain;
    let headcount = 0;
    while (datalen > 0 && headcount < quota) {
      const head = dev.popChain();
      if (head < 0) {
        if (headcount > 0) this.rxTooFewBuffers++;
        dev.discardChains(headcount);
        return 0;
      }
      const room = chain.remaining;
      const n = Math.min(room, datalen);
      if (headcount === 0) {
        // Only a mergeable frame's num_buffers is patched after the chains are counted.
        if (this.mergeable) this.numBuffersAddr = chain.writableAddress(NUM_BUFFERS_OFFSET);
        chain.writeNetHdr(this.hdrLen, 1);
        chain.write(n - this.hdrLen);
      } else {
        chain.write(n);
      }
      this.rxHeads[headcount] = head;
      this.rxLens[headcount] = n;
      datalen -= room;
      headcount++;
    }
    if (datalen > 0) {
      dev.discardChains(headcount);
      return quota + 1;
    }
    return headcount;
  }

  private publishAndSignal(): void {
    this.pendingSignal = false;
    this.dev.publishUsed();
    if (this.dev.needsNotification() && this.irq !== null) {
      this.interruptsInjected++;
      const tr = this.sim.trace;
      if (tr.on[TP_VHOST_SIGNAL] !== 0)
        tr.emitHost(TP_VHOST_SIGNAL, "vhost-net", 1, `irqs=${this.interruptsInjected}`);
      this.irq.interrupt();
    }
  }

  /** The guest took the packet of a used buffer (receive_buf): it owns it from now on. */
  takePacket(head: number): number {
    const p = this.packetAtHead[head]!;
    this.packetAtHead[head] = -1;
    return p;
  }
}
