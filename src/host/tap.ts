/**
 * The tap device's queues as Linux 3.2 drivers/net/tun.c and the qdisc in front of it behave
 * (kernel-facts.md §6.3):
 *
 * - tun_net_xmit: when the socket's receive queue already holds tx_queue_len (TUN_READQ_SIZE = 500)
 *   packets, normal mode calls netif_stop_queue and counts tx_fifo_errors — and still queues this
 *   packet (so 501 fit); with IFF_ONE_QUEUE it drops instead (tx_dropped).
 * - while the queue is stopped, packets wait in the qdisc (pfifo_fast, limit = tx_queue_len) and
 *   are dropped beyond it (qdisc_drop): the "packets dropped by the host OS" of the seed.
 * - tun_do_read (vhost's recvmsg) calls netif_wake_queue, which lets the qdisc drain again.
 */

import { TP_TUN_DROP, TP_TUN_QUEUE_STOP, type Tracer } from "../sim/trace.ts";

export interface TapOptions {
  /** dev->tx_queue_len = TUN_READQ_SIZE (include/linux/if_tun.h). */
  txQueueLen: number;
  /** IFF_ONE_QUEUE: drop at the tap instead of stopping the queue. */
  oneQueue: boolean;
  /** The qdisc's limit (pfifo_fast uses tx_queue_len). */
  qdiscLimit: number;
}

export const DEFAULT_TAP: TapOptions = { txQueueLen: 500, oneQueue: false, qdiscLimit: 500 };

/** A FIFO of packet indices on a ring buffer. */
class PacketFifo {
  private buf: Int32Array;
  private head = 0;
  length = 0;
  constructor(capacity: number) {
    let c = 16;
    while (c < capacity) c *= 2;
    this.buf = new Int32Array(c);
  }
  push(p: number): void {
    if (this.length === this.buf.length) {
      const b = new Int32Array(this.buf.length * 2);
      for (let i = 0; i < this.length; i++) b[i] = this.buf[(this.head + i) & (this.buf.length - 1)]!;
      this.buf = b;
      this.head = 0;
    }
    this.buf[(this.head + this.length) & (this.buf.length - 1)] = p;
    this.length++;
  }
  peek(): number {
    return this.length === 0 ? -1 : this.buf[this.head]!;
  }
  shift(): number {
    if (this.length === 0) return -1;
    const p = this.buf[this.head]!;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.length--;
    return p;
  }
}

export class TapDevice {
  /** tun->socket.sk->sk_receive_queue */
  private readonly sock: PacketFifo;
  private readonly qdisc: PacketFifo;
  /** __QUEUE_STATE_DRV_XOFF */
  stopped = false;
  /** Counters named as ip -s link / tc -s qdisc show them. */
  txPackets = 0;
  txFifoErrors = 0;
  txDropped = 0;
  qdiscDrops = 0;
  maxSockQueue = 0;
  maxQdisc = 0;
  /** The run's tracer (tun: tracepoints); none in unit tests that build a tap alone. */
  trace: Tracer | null = null;

  constructor(
    readonly opts: TapOptions,
    private readonly drop: (pkt: number) => void,
    /** Called when the socket queue goes from empty to non-empty (sk_data_ready → vhost poll). */
    private readonly dataReady: () => void,
  ) {
    this.sock = new PacketFifo(opts.txQueueLen + 1);
    this.qdisc = new PacketFifo(opts.qdiscLimit);
  }

  get queued(): number {
    return this.sock.length;
  }

  get qdiscQueued(): number {
    return this.qdisc.length;
  }

  /** dev_queue_xmit towards the tap: through the qdisc when the driver queue is stopped. */
  xmit(pkt: number): void {
    if (this.stopped || this.qdisc.length > 0) {
      if (this.qdisc.length >= this.opts.qdiscLimit) {
        this.qdiscDrops++;
        this.traceDrop("qdisc_drop");
        this.drop(pkt);
        return;
      }
      this.qdisc.push(pkt);
      if (this.qdisc.length > this.maxQdisc) this.maxQdisc = this.qdisc.length;
      return;
    }
    this.tunNetXmit(pkt);
  }

  private tunNetXmit(pkt: number): void {
    if (this.sock.length >= this.opts.txQueueLen) {
      if (this.opts.oneQueue) {
        this.txDropped++;
        this.traceDrop("one_queue");
        this.drop(pkt);
        return;
      }
      this.stopped = true;
      this.txFifoErrors++;
      const tr = this.trace;
      if (tr !== null && tr.on[TP_TUN_QUEUE_STOP] !== 0)
        tr.emitHost(
          TP_TUN_QUEUE_STOP,
          "tun",
          2,
          `queued=${this.sock.length} tx_fifo_errors=${this.txFifoErrors}`,
        );
    }
    this.sock.push(pkt);
    this.txPackets++;
    if (this.sock.length > this.maxSockQueue) this.maxSockQueue = this.sock.length;
    if (this.sock.length === 1) this.dataReady();
  }

  private traceDrop(where: string): void {
    const tr = this.trace;
    if (tr !== null && tr.on[TP_TUN_DROP] !== 0)
      tr.emitHost(
        TP_TUN_DROP,
        "tun",
        2,
        `reason=${where} queued=${this.sock.length} qdisc=${this.qdisc.length}`,
      );
  }

  /** The socket queue has room for another packet: tun_net_xmit would queue it, not stop. */
  hasRoom(): boolean {
    return this.sock.length < this.opts.txQueueLen;
  }

  /** peek_head_len: the next packet vhost would read, or -1. */
  peek(): number {
    return this.sock.peek();
  }

  /** tun_do_read: dequeue one packet and wake the queue, letting the qdisc refill it. */
  read(): number {
    const p = this.sock.shift();
    if (this.stopped) {
      this.stopped = false;
      while (!this.stopped && this.qdisc.length > 0) this.tunNetXmit(this.qdisc.shift());
    }
    return p;
  }
}
