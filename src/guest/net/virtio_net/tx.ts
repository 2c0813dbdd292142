/**
 * The transmit half of virtio_net with the qdisc in front of it: dev_queue_xmit → pfifo_fast →
 * start_xmit → xmit_skb → the tx virtqueue (send queue) → kick; free_old_xmit_skbs frees the skbs the
 * host has used. Two eras, as the driver version chooses:
 *
 * - v3.2 (drivers/net/virtio_net.c): used skbs are reaped only at the next start_xmit; tx interrupts
 *   stay off (skb_xmit_done disables them) until the ring is nearly full, when start_xmit stops the
 *   queue and asks for one interrupt after 3/4 of the outstanding buffers (virtqueue_enable_cb_delayed);
 *   skb_xmit_done then wakes the queue, whose qdisc runs from NET_TX_SOFTIRQ.
 * - v6.1 with napi_tx (its default): start_xmit reaps and re-arms the delayed interrupt every time,
 *   the interrupt schedules the tx NAPI (virtnet_poll_tx) and every rx poll reaps the tx ring first
 *   (virtnet_poll_cleantx).
 *
 * skbs are indices into the SkbPool; skbs.len is the frame length and skbs.pkt the network packet
 * the host reads out of the buffer (the model's payload).
 */
import type { Ns } from "../../../sim/time.ts";
import { TP_KFREE_SKB, TP_NET_DEV_XMIT } from "../../../sim/trace.ts";
import { Scatterlist, type VirtqueueDriver } from "../../../virtio/driver.ts";
import { GFP_ATOMIC } from "../../mm/gfp.ts";
import { CAT_DRIVER } from "../../sched/costs.ts";
import type { Kernel } from "../../sched/kernel.ts";
import type { Napi, NapiSubsystem } from "../../sched/napi.ts";
import { NAPI_POLL_WEIGHT } from "../../sched/napi.ts";
import type { IndirectTables } from "../indirect-tables.ts";
import type { SkbPool } from "../skb.ts";
import { BUFFER_GPA_BASE } from "./virtnet.ts";

/** NET_TX_SOFTIRQ (include/linux/interrupt.h): net_tx_action runs the scheduled qdiscs. */
export const NET_TX_SOFTIRQ = 2;
/** MAX_SKB_FRAGS = 65536/PAGE_SIZE + 2 = 18 (include/linux/skbuff.h, 4 KiB pages). */
const MAX_SKB_FRAGS = 18;
/** start_xmit stops the queue below 2+MAX_SKB_FRAGS free descriptors: room for one worst-case skb. */
export const TX_STOP_THRESHOLD = 2 + MAX_SKB_FRAGS;
/** weight_p = 64 (net/core/dev.c): __qdisc_run's quota before it reschedules itself. */
const QDISC_QUOTA = 64;
/**
 * Guest-physical addresses of tx skbs: one 64 KiB window per skb slot (a GSO frame fits), above the
 * rx buffers' addresses. The vnet header (in skb->cb) is at the window's start, the data after it.
 */
export const TX_SKB_GPA_BASE = 2 * BUFFER_GPA_BASE;
export const TX_SKB_GPA_STRIDE = 65536;
/** Offset of the data sg entry in an skb's window (after the header in skb->cb). */
const TX_DATA_OFFSET = 64;

/** The skb whose tx buffer starts at guest address `gpa` (what the host reads from the chain). */
export function txSkbAt(gpa: number): number {
  return Math.floor((gpa - TX_SKB_GPA_BASE) / TX_SKB_GPA_STRIDE);
}

export interface TxCosts {
  /** virtqueue_kick's VM exit, when the host wants the notification. */
  kick: Ns;
  /** dev_kfree_skb per transmitted skb. */
  skbFree: Ns;
}

export interface TxOptions {
  /** 6.1's napi_tx: reap from the tx NAPI and the rx poll (mainline); false: 3.2's reaping in start_xmit. */
  napiTx: boolean;
  /** dev->tx_queue_len: pfifo_fast's limit. */
  txQueueLen: number;
  /** sizeof the virtio_net_hdr (10, or 12 with MRG_RXBUF). */
  hdrLen: number;
}

/** Counters named like the kernel's (dev->stats, virtnet_sq_stats) and the questions asked of them. */
export class TxStats {
  /** tx_packets / tx_bytes: skbs the host used and free_old_xmit_skbs freed. */
  txPackets = 0;
  txBytes = 0;
  /** netif_stop_queue calls from start_xmit: the ring was (nearly) full. */
  txRingFull = 0;
  /** netif_wake_queue calls that restarted a stopped queue. */
  txQueueWakes = 0;
  /** dev->stats.tx_dropped: xmit_skb failed and the skb was freed. */
  txDropped = 0;
  /** Skbs on the ring (added, not yet freed by free_old_xmit_skbs), now and at most. */
  outstanding = 0;
  maxOutstanding = 0;
  /** qdisc drops (pfifo_fast at tx_queue_len) and the qdisc's deepest backlog. */
  qdiscDrops = 0;
  maxQdisc = 0;
  /** tx interrupts (skb_xmit_done). */
  interrupts = 0;
}

export interface TxEnv {
  k: Kernel;
  napi: NapiSubsystem;
  vq: VirtqueueDriver;
  indirect: IndirectTables;
  skbs: SkbPool;
  /** vq->notify for the tx queue. */
  notifyHost(): void;
  costs: TxCosts;
}

export class VirtnetTx {
  readonly stats = new TxStats();
  /** __QUEUE_STATE_DRV_XOFF: start_xmit stopped the queue. */
  stopped = false;
  /** The tx NAPI (virtnet_poll_tx) with napi_tx; null in 3.2. */
  readonly napi: Napi | null;
  private readonly k: Kernel;
  private readonly vq: VirtqueueDriver;
  private readonly sg = new Scatterlist(2);
  /** pfifo_fast's band 1 (all our skbs have priority 0): a ring of skb ids. */
  private readonly qdisc: Int32Array;
  private qHead = 0;
  private qLen = 0;
  /** __QDISC_STATE_SCHED: the qdisc waits for net_tx_action. */
  private scheduled = false;

  constructor(
    private readonly env: TxEnv,
    private readonly opts: TxOptions,
  ) {
    this.k = env.k;
    this.vq = env.vq;
    this.qdisc = new Int32Array(opts.txQueueLen);
    // virtnet_alloc_queues (6.1): netif_napi_add_tx_weight(…, virtnet_poll_tx, napi_tx ? napi_weight : 0).
    this.napi = opts.napiTx
      ? env.napi.register("virtnet_poll_tx", () => this.pollTx(), NAPI_POLL_WEIGHT)
      : null;
    env.k.openSoftirq(NET_TX_SOFTIRQ, () => this.netTxAction());
  }

  /** Packets waiting in the qdisc. */
  get qdiscQueued(): number {
    return this.qLen;
  }

  /**
   * dev_queue_xmit (net/core/dev.c, v3.2 __dev_xmit_skb): an empty qdisc of a running queue is
   * bypassed straight into start_xmit; otherwise pfifo_fast_enqueue (qdisc_drop at tx_queue_len)
   * and qdisc_run. The stack owns `skb` until this call and not after.
   */
  devQueueXmit(skb: number): void {
    if (this.qLen === 0 && !this.stopped) {
      this.startXmit(skb);
      return;
    }
    if (this.qLen >= this.qdisc.length) {
      this.stats.qdiscDrops++;
      const tr = this.k.sim.trace;
      if (tr.on[TP_KFREE_SKB] !== 0)
        tr.emit(TP_KFREE_SKB, `skbaddr=skb${skb} protocol=2048 location=pfifo_fast_enqueue`);
      this.freeSkb(skb);
      return;
    }
    this.qdisc[(this.qHead + this.qLen) % this.qdisc.length] = skb;
    this.qLen++;
    if (this.qLen > this.stats.maxQdisc) this.stats.maxQdisc = this.qLen;
    this.qdiscRun();
  }

  /** __qdisc_run: start_xmit queued skbs while the queue runs, QDISC_QUOTA at a time. */
  private qdiscRun(): void {
    let quota = QDISC_QUOTA;
    while (this.qLen > 0 && !this.stopped) {
      const skb = this.qdisc[this.qHead]!;
      this.qHead = (this.qHead + 1) % this.qdisc.length;
      this.qLen--;
      this.startXmit(skb);
      if (--quota <= 0) {
        this.netifSchedule();
        return;
      }
    }
  }

  /** __netif_schedule: run the qdisc from NET_TX_SOFTIRQ on this CPU. */
  private netifSchedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.k.raiseSoftirq(NET_TX_SOFTIRQ);
  }

  /** net_tx_action: the scheduled qdisc runs. */
  private netTxAction(): void {
    if (!this.scheduled) return;
    this.scheduled = false;
    this.qdiscRun();
  }

  /** netif_wake_queue: restart a stopped queue and schedule its qdisc. */
  private netifWakeQueue(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.stats.txQueueWakes++;
    if (this.qLen > 0) this.netifSchedule();
  }

  /** start_xmit: the era's reaping, xmit_skb, the stop rule and the kick. */
  private startXmit(skb: number): void {
    const vq = this.vq;
    const napiTx = this.napi !== null;
    // "Free up any pending old buffers before queueing new ones." With napi_tx (6.1) this re-arms
    // the delayed interrupt until no used buffer slipped in meanwhile.
    if (napiTx) {
      do {
        vq.disableCb();
        this.freeOldXmitSkbs();
      } while (!vq.enableCbDelayed());
    } else {
      this.freeOldXmitSkbs();
    }
    let capacity = this.xmitSkb(skb);
    if (capacity < 0) {
      // "This can happen with OOM and indirect buffers" (3.2); -ENOSPC cannot, as the queue stops first.
      this.stats.txDropped++;
      this.freeSkb(skb);
      return;
    }
    const tr = this.k.sim.trace;
    // include/trace/events/net.h: "dev=%s skbaddr=%p len=%u rc=%d"
    if (tr.on[TP_NET_DEV_XMIT] !== 0)
      tr.emit(TP_NET_DEV_XMIT, `dev=eth0 skbaddr=skb${skb} len=${this.env.skbs.len[skb]} rc=0`);
    // 3.2 kicks before the stop check, 6.1 after it; nothing in between reads the ring's index.
    if (!napiTx) this.kick();
    if (capacity < TX_STOP_THRESHOLD) {
      this.stopped = true;
      this.stats.txRingFull++;
      if (napiTx) {
        if (!vq.enableCbDelayed()) this.napiScheduleTx();
      } else if (!vq.enableCbDelayed()) {
        // "More just got used, free them then recheck."
        capacity += this.freeOldXmitSkbs();
        if (capacity >= TX_STOP_THRESHOLD) {
          this.stopped = false; // netif_start_queue
          vq.disableCb();
        }
      }
    }
    if (napiTx) this.kick();
  }

  /** xmit_skb: virtio_net_hdr then the linear data as 2 sg entries; virtqueue_add_buf(GFP_ATOMIC). */
  private xmitSkb(skb: number): number {
    const vq = this.vq;
    const base = TX_SKB_GPA_BASE + skb * TX_SKB_GPA_STRIDE;
    this.sg.set(0, base, this.opts.hdrLen);
    this.sg.set(1, base + TX_DATA_OFFSET, this.env.skbs.len[skb]!);
    this.env.indirect.prepareAtomic(vq, 2, GFP_ATOMIC);
    const r = vq.addBuf(2, 0, this.sg, skb);
    this.env.indirect.release();
    if (r >= 0) {
      const s = this.stats;
      if (++s.outstanding > s.maxOutstanding) s.maxOutstanding = s.outstanding;
    }
    return r;
  }

  private kick(): void {
    if (this.vq.kick()) {
      this.k.charge(this.env.costs.kick, CAT_DRIVER);
      this.env.notifyHost();
    }
  }

  /**
   * free_old_xmit_skbs: free every skb the host has used. Returns the sg entries released (3.2's
   * tot_sgs, 2 per skb), which start_xmit adds to its capacity.
   */
  freeOldXmitSkbs(): number {
    const vq = this.vq;
    const s = this.stats;
    let sgs = 0;
    for (let skb = vq.getBuf(); skb >= 0; skb = vq.getBuf()) {
      s.txPackets++;
      s.txBytes += this.env.skbs.len[skb]!;
      s.outstanding--;
      sgs += 2;
      this.freeSkb(skb);
    }
    return sgs;
  }

  private freeSkb(skb: number): void {
    this.k.charge(this.env.costs.skbFree, CAT_DRIVER);
    this.env.skbs.kfree(skb);
  }

  /** skb_xmit_done: the tx virtqueue's callback (hardirq). */
  skbXmitDone(): void {
    this.stats.interrupts++;
    // "Suppress further interrupts."
    this.vq.disableCb();
    if (this.napi !== null) this.napiScheduleTx();
    // "We were probably waiting for more output buffers."
    else this.netifWakeQueue();
  }

  /** virtqueue_napi_schedule for the tx NAPI. */
  private napiScheduleTx(): void {
    const napi = this.env.napi;
    if (!napi.schedulePrep(this.napi!)) return;
    this.vq.disableCb();
    napi.scheduleLocked(this.napi!);
  }

  /** virtnet_poll_tx (6.1): reap, wake on room, re-enable the interrupt; it reports no work. */
  private pollTx(): number {
    const vq = this.vq;
    vq.disableCb();
    this.freeOldXmitSkbs();
    if (vq.numFree >= TX_STOP_THRESHOLD) this.netifWakeQueue();
    const empty = vq.enableCb();
    this.env.napi.complete(this.napi!);
    if (!empty) this.napiScheduleTx();
    return 0;
  }

  /** virtnet_poll_cleantx (6.1): the rx poll reaps the tx ring first; nothing without napi_tx. */
  pollCleantx(): void {
    if (this.napi === null) return;
    const vq = this.vq;
    do {
      vq.disableCb();
      this.freeOldXmitSkbs();
    } while (!vq.enableCbDelayed());
    if (vq.numFree >= TX_STOP_THRESHOLD) this.netifWakeQueue();
  }
}
