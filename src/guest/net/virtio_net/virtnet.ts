/**
 * struct virtnet_info and the receive-side code every driver version shares (drivers/net/
 * virtio_net.c of v3.2): buffer allocation and posting for the three receive modes, the driver's
 * private page list, receive_buf / page_to_skb, the interrupt callback and probe. The versions
 * (versions/*.ts) supply the refill policy: try_fill_recv, virtnet_poll, refill_work and
 * virtnet_napi_enable, each reading like the source or patch it models.
 *
 * Buffers are identified on the ring by a token: the skb index for small buffers, the first page's
 * pfn for big and mergeable ones (further pages chained through pageNext, as page->private does).
 */
import { ModelError } from "../../../sim/simulator.ts";
import { ENOMEM, ENOSPC, Scatterlist, type VirtqueueDriver } from "../../../virtio/driver.ts";
import { CAT_DRIVER } from "../../sched/costs.ts";
import type { Kernel, KernelCode } from "../../sched/kernel.ts";
import type { SpinLock } from "../../sched/lock.ts";
import type { Napi, NapiSubsystem } from "../../sched/napi.ts";
import type { DelayedWork, Workqueues } from "../../sched/workqueue.ts";
import { __GFP_WAIT, GFP_ATOMIC, GFP_KERNEL, gfpName } from "../../mm/gfp.ts";
import type { IndirectTables } from "../indirect-tables.ts";
import type { VirtnetTx } from "./tx.ts";
import {
  ALLOC_SITE_PAGE_TO_SKB,
  ALLOC_SITE_RX_PAGE,
  ALLOC_SITE_SMALL_SKB_DATA,
  ALLOC_SITE_SMALL_SKB_HEAD,
  type MmPort,
  SLAB_KMALLOC_1024,
  SLAB_KMALLOC_2048,
  SLAB_SKBUFF_HEAD,
} from "../mm-port.ts";
import { NO_SKB, type SkbPool } from "../skb.ts";
import {
  BIG_PAGES,
  BIG_SG,
  COPY_HEAD_TAILROOM,
  COPY_HEAD_TRUESIZE,
  type DriverCosts,
  ETH_HLEN,
  MAX_PACKET_LEN,
  MAX_SKB_FRAGS,
  PADDED_VNET_HDR_LEN,
  PAGE_SIZE,
  type RxMode,
  SMALL_TRUESIZE,
  VNET_HDR_LEN,
  VNET_MRG_HDR_LEN,
} from "./constants.ts";
import { TP_REFILL_WORK, TP_TRY_FILL_RECV_BEGIN, TP_TRY_FILL_RECV_END } from "../../../sim/trace.ts";

export { ENOMEM, ENOSPC };

/**
 * Guest-physical addresses of receive buffers: page frame (or skb slot) × 4096 above this base.
 * The ArrayBuffer of guest memory holds only the ring and indirect tables, so buffer addresses
 * must lie outside it: payload bytes are not materialised, and the device writes nothing there.
 */
export const BUFFER_GPA_BASE = 2 ** 40;

/** What the driver is plugged into. */
export interface VirtnetEnv {
  k: Kernel;
  napi: NapiSubsystem;
  wq: Workqueues;
  mm: MmPort;
  vq: VirtqueueDriver;
  /** Indirect descriptor tables, allocated through the memory model with the caller's gfp. */
  indirect: IndirectTables;
  skbs: SkbPool;
  /** vq->notify: the guest's kick reaches the host (the VM exit is charged by the driver). */
  notifyHost(): void;
  /**
   * The packet the device wrote into the chain with this head (the model's payload); -1 for the
   * second and later buffers of a frame spread over num_buffers (the frame is at its first head).
   */
  packetAt(head: number): number;
  /**
   * hdr.num_buffers the device wrote into the header of the chain with this head (mergeable
   * mode): the model's stand-in for reading the header bytes, which lie outside modelled memory.
   */
  numBuffersAt(head: number): number;
  /** netif_receive_skb: the guest stack takes the skb. */
  netifReceiveSkb(skb: number): void;
  /** The packet of a buffer the driver dropped is gone (the model's payload is released). */
  dropPacket(pkt: number): void;
  /** The host's tap queue has room: a packet the guest did not take would have waited there. */
  hostQueueHasRoom(): boolean;
  costs: DriverCosts;
}

export interface VirtnetOptions {
  mode: RxMode;
  /** RFC v1 only: the value its uninitialised `bool oom` happens to hold. */
  rfcOomInit?: boolean;
  /** RFC v1 only: the rx_allocate_batch module parameter. */
  rxAllocateBatch?: number;
  /** netif_napi_add weight; defaults to the version's own. */
  napiWeight?: number;
}

/** Counters of one device, named after the driver's fields and the questions asked of it. */
export class VirtnetStats {
  rxPackets = 0;
  rxBytes = 0;
  /**
   * rx_dropped: page_to_skb could not allocate the head skb; in 6.1 (mainline) every receive drop
   * (stats->drops, which virtnet_stats adds to rx_dropped), build_skb's failures included.
   */
  rxDroppedNoMem = 0;
  /** build_skb / napi_alloc_skb failures at receive (6.1 buffers; each also counted in rx_dropped). */
  rxSkbAllocFailures = 0;
  /**
   * skb_page_frag_refill's pages (6.1 buffers): taken at SKB_FRAG_PAGE_ORDER, order-0 fallbacks
   * after a failed high-order try, and refills that got neither.
   */
  pageFragHighOrder = 0;
  pageFragOrder0Fallbacks = 0;
  pageFragFailures = 0;
  /**
   * dev->stats.rx_length_errors: shorter than a virtio header plus an Ethernet header, or a
   * mergeable frame with more than MAX_SKB_FRAGS fragments or with buffers missing.
   */
  rxLengthErrors = 0;
  buffersPosted = 0;
  buffersConsumed = 0;
  /** try_fill_recv calls and ENOMEM outcomes, by gfp name. */
  readonly tryFillCalls: Record<string, number> = {};
  readonly tryFillOom: Record<string, number> = {};
  /** Buffers allocated but freed because the ring had no room (-ENOSPC). */
  buffersFreedNoSpace = 0;
  interrupts = 0;
  /** refill_work start times, for runs and their spacing. */
  refillRunTimes: number[] = [];
}

export abstract class VirtnetDriver {
  /**
   * The ring this version's kernel has: false, v3.2's virtio_ring publishing avail->idx at kick;
   * true, 6.1's virtqueue_add_split publishing it with every buffer (VirtqueueDriverOptions).
   */
  static readonly availPerAdd: boolean = false;
  readonly version: string = "base";
  readonly k: Kernel;
  readonly vq: VirtqueueDriver;
  readonly napi: Napi;
  readonly refill: DelayedWork;
  /** Number of input buffers posted, and the most we have ever had (vi->num, vi->max). */
  num = 0;
  max = 0;
  /** vi->pages: the driver's private page list, chained through pageNext (page->private). */
  pages = -1;
  pagesCount = 0;
  readonly stats = new VirtnetStats();
  readonly mode: RxMode;
  protected readonly sg: Scatterlist;
  protected rxFillLock: SpinLock | null = null;
  readonly hdrLen: number;
  /** The send queue, once the system attached one (tx.ts). */
  tx: VirtnetTx | null = null;
  /** 6.1's napi_tx: the tx ring is reaped from NAPI (mainline); false: only in start_xmit (3.2). */
  readonly napiTx: boolean = false;

  constructor(
    readonly env: VirtnetEnv,
    readonly opts: VirtnetOptions,
  ) {
    this.k = env.k;
    this.vq = env.vq;
    this.mode = opts.mode;
    this.hdrLen = opts.mode === "mergeable" ? VNET_MRG_HDR_LEN : VNET_HDR_LEN;
    this.sg = new Scatterlist(BIG_SG);
    this.napi = env.napi.register(
      "virtnet_poll",
      (budget) => this.virtnetPoll(budget),
      opts.napiWeight ?? this.napiWeight(),
    );
    this.refill = env.wq.init("refill_work", () => this.refillWorkTraced());
  }

  // ---- the policy each version defines ------------------------------------------------------

  /** netif_napi_add weight: 128 in v3.2's virtio_net (napi_weight module parameter). */
  protected abstract napiWeight(): number;
  /** Returns false if an allocation failed (OOM); kicks the host once at the end. */
  abstract tryFillRecv(gfp: number): KernelCode<boolean>;
  /**
   * try_fill_recv for a gfp without __GFP_WAIT, from atomic context: the same fill as plain calls
   * (nothing in it can sleep, so no generator per fill or buffer; every packet's refill runs here).
   */
  protected abstract tryFillRecvNoWait(gfp: number): boolean;
  abstract virtnetPoll(budget: number): number;
  abstract refillWork(): KernelCode;
  /** Re-enables NAPI after refill_work and schedules one poll for buffers used meanwhile. */
  protected abstract virtnetNapiEnable(): void;

  // ---- probe and interrupt -----------------------------------------------------------------

  /** virtnet_probe's last step: fill the ring with GFP_KERNEL; vi->max is what fit. */
  *probe(): KernelCode {
    yield* this.tryFillRecvCounted(GFP_KERNEL);
    if (this.num === 0) throw new ModelError("virtnet_probe: not even one receive buffer (-ENOMEM)");
  }

  /** skb_recv_done (the rx virtqueue callback, hardirq). */
  skbRecvDone(): void {
    this.stats.interrupts++;
    this.virtqueueNapiSchedule();
  }

  /**
   * Schedule NAPI if nobody else has: `if (napi_schedule_prep(napi)) { virtqueue_disable_cb(vq);
   * __napi_schedule(napi); }` — the sequence skb_recv_done, virtnet_poll and virtnet_napi_enable
   * share (named virtqueue_napi_schedule in later kernels).
   */
  protected virtqueueNapiSchedule(): boolean {
    const napi = this.env.napi;
    if (!napi.schedulePrep(this.napi)) return false;
    this.vq.disableCb();
    napi.scheduleLocked(this.napi);
    return true;
  }

  /** Counters of what a policy of ours did (run summaries' guest.policy); none for the kernel's. */
  policyCounters(): Record<string, number> {
    return {};
  }

  /**
   * Memory the driver holds besides its posted buffers, bytes: vi->pages here; policies add the
   * pools they keep.
   */
  heldBytes(): number {
    return this.pagesCount * PAGE_SIZE;
  }

  /** Runs try_fill_recv and counts its call and outcome by gfp. */
  *tryFillRecvCounted(gfp: number): KernelCode<boolean> {
    const name = this.tryFillBegin(gfp);
    return this.tryFillEnd(name, yield* this.tryFillRecv(gfp));
  }

  /**
   * try_fill_recv(vi, gfp) from softirq context (GFP_ATOMIC unless a policy says otherwise),
   * counted as tryFillRecvCounted counts.
   */
  protected tryFillRecvAtomic(gfp: number = GFP_ATOMIC): boolean {
    if ((gfp & __GFP_WAIT) !== 0 || !this.k.inAtomic())
      throw new ModelError(`${this.version}: try_fill_recv(${gfpName(gfp)}) would sleep in atomic context`);
    const name = this.tryFillBegin(gfp);
    return this.tryFillEnd(name, this.tryFillRecvNoWait(gfp));
  }

  /** Counts a try_fill_recv call and traces its start; returns the gfp's name. */
  private tryFillBegin(gfp: number): string {
    const name = gfpName(gfp); // memoised per gfp (gfp.ts)
    const s = this.stats;
    s.tryFillCalls[name] = (s.tryFillCalls[name] ?? 0) + 1;
    const tr = this.k.sim.trace;
    if (tr.on[TP_TRY_FILL_RECV_BEGIN] !== 0)
      tr.emit(TP_TRY_FILL_RECV_BEGIN, `gfp_flags=${name} num=${this.num} max=${this.max}`);
    return name;
  }

  /** Counts an OOM outcome and traces the end of a try_fill_recv; returns `ok`. */
  private tryFillEnd(name: string, ok: boolean): boolean {
    const s = this.stats;
    if (!ok) s.tryFillOom[name] = (s.tryFillOom[name] ?? 0) + 1;
    const tr = this.k.sim.trace;
    if (tr.on[TP_TRY_FILL_RECV_END] !== 0)
      tr.emit(
        TP_TRY_FILL_RECV_END,
        `gfp_flags=${name} ret=${ok ? "ok" : "oom"} num=${this.num} max=${this.max}`,
      );
    return ok;
  }

  private *refillWorkTraced(): KernelCode {
    this.stats.refillRunTimes.push(this.k.now);
    const tr = this.k.sim.trace;
    if (tr.on[TP_REFILL_WORK] !== 0)
      tr.emit(TP_REFILL_WORK, `num=${this.num} max=${this.max} runs=${this.refill.runs}`);
    yield* this.refillWork();
  }

  // ---- ring access discipline (the checker behind "no concurrent driver access") ------------

  /** Identity of the executing context for the virtqueue's access checker. */
  protected accessor(): number {
    const k = this.k;
    return k.current !== null ? 1000 + k.current.id : k.ctx * 100 + k.cpuNow.index;
  }

  protected enterRing(): number {
    const who = this.accessor();
    this.vq.beginAccess(who);
    return who;
  }

  protected leaveRing(who: number): void {
    this.vq.endAccess(who);
  }

  /** virtqueue_kick, charging the VM exit when the host wants a notification. */
  protected kick(): void {
    if (this.vq.kick()) {
      this.k.charge(this.env.costs.kick, CAT_DRIVER);
      this.env.notifyHost();
    }
  }

  // ---- pages: give_pages / get_a_page --------------------------------------------------------

  /** give_pages: put a chain of pages (linked through pageNext) on vi->pages. */
  protected givePages(first: number): void {
    const mm = this.env.mm;
    const next = this.env.skbs.pageNext;
    let end = first;
    for (;;) {
      mm.setOwner(end, mm.owners.rxRing, mm.owners.driverList);
      this.pagesCount++;
      if (next[end]! < 0) break;
      end = next[end]!;
    }
    next[end] = this.pages;
    this.pages = first;
  }

  /** get_a_page: vi->pages first, then alloc_page(gfp). The page is destined for the ring. */
  protected *getAPage(gfp: number): KernelCode<number> {
    const p = this.takeListPage();
    if (p >= 0) return p;
    const mm = this.env.mm;
    mm.allocSite = ALLOC_SITE_RX_PAGE;
    return this.newRxPage(yield* mm.allocPage(gfp, mm.owners.rxRing));
  }

  /** get_a_page for a gfp that cannot sleep. */
  protected getAPageNoWait(gfp: number): number {
    const p = this.takeListPage();
    if (p >= 0) return p;
    const mm = this.env.mm;
    mm.allocSite = ALLOC_SITE_RX_PAGE;
    return this.newRxPage(mm.allocPageAtomic(gfp, mm.owners.rxRing));
  }

  /** The first page of vi->pages, now the ring's; -1 when the list is empty. */
  protected takeListPage(): number {
    const p = this.pages;
    if (p >= 0) {
      const mm = this.env.mm;
      this.pages = this.env.skbs.pageNext[p]!;
      this.env.skbs.pageNext[p] = -1;
      this.pagesCount--;
      mm.setOwner(p, mm.owners.driverList, mm.owners.rxRing);
    }
    return p;
  }

  /** A page alloc_page returned (or -1), unchained. */
  private newRxPage(page: number): number {
    if (page >= 0) this.env.skbs.pageNext[page] = -1;
    return page;
  }

  // ---- buffers: allocation (alloc_recvbuf_*) and posting (add_recvbuf_*) --------------------
  //
  // Each step has a generator, for process context's fills whose gfp may sleep (refill_work,
  // probe), and a plain *NoWait form for a gfp without __GFP_WAIT. The two differ only in the
  // allocation calls; what a step does with the objects it got is one plain method both call.

  /**
   * The gfp add_recvbuf_small's skb allocation uses. v3.2's netdev_alloc_skb_ip_align hard-codes
   * GFP_ATOMIC whatever the caller passed (include/linux/skbuff.h); seed patch 1 changes this.
   */
  protected smallSkbGfp(_gfp: number): number {
    return GFP_ATOMIC;
  }

  /** Allocates one receive buffer for the current mode: a token, or -ENOMEM. */
  protected *allocRecvbuf(gfp: number): KernelCode<number> {
    if (this.mode === "mergeable") return yield* this.allocRecvbufMergeable(gfp);
    if (this.mode === "big") return yield* this.allocRecvbufBig(gfp);
    return yield* this.allocRecvbufSmall(gfp);
  }

  protected allocRecvbufNoWait(gfp: number): number {
    if (this.mode === "mergeable") return this.allocRecvbufMergeableNoWait(gfp);
    if (this.mode === "big") return this.allocRecvbufBigNoWait(gfp);
    return this.allocRecvbufSmallNoWait(gfp);
  }

  /** __netdev_alloc_skb_ip_align(dev, MAX_PACKET_LEN, gfp): sk_buff head, then the data area. */
  protected *allocRecvbufSmall(gfp: number): KernelCode<number> {
    const mm = this.env.mm;
    const skbGfp = this.smallSkbGfp(gfp);
    mm.allocSite = ALLOC_SITE_SMALL_SKB_HEAD;
    const head = yield* mm.slabAlloc(SLAB_SKBUFF_HEAD, skbGfp);
    if (head < 0) return -ENOMEM;
    mm.allocSite = ALLOC_SITE_SMALL_SKB_DATA;
    return this.smallSkb(head, yield* mm.slabAlloc(SLAB_KMALLOC_2048, skbGfp));
  }

  protected allocRecvbufSmallNoWait(gfp: number): number {
    const mm = this.env.mm;
    const skbGfp = this.smallSkbGfp(gfp);
    mm.allocSite = ALLOC_SITE_SMALL_SKB_HEAD;
    const head = mm.slabAllocAtomic(SLAB_SKBUFF_HEAD, skbGfp);
    if (head < 0) return -ENOMEM;
    mm.allocSite = ALLOC_SITE_SMALL_SKB_DATA;
    return this.smallSkb(head, mm.slabAllocAtomic(SLAB_KMALLOC_2048, skbGfp));
  }

  /** The small buffer's skb from its sk_buff head and data area; -ENOMEM (head freed) without data. */
  private smallSkb(head: number, data: number): number {
    const skb = this.env.skbs.withData(head, SLAB_KMALLOC_2048, data, SMALL_TRUESIZE);
    if (skb === NO_SKB) return -ENOMEM;
    this.env.skbs.len[skb] = MAX_PACKET_LEN; // skb_put(skb, MAX_PACKET_LEN)
    return this.allocated(skb);
  }

  /** Charges the allocation half of add_recvbuf_*'s cost; returns the buffer's token. */
  protected allocated(token: number): number {
    this.k.charge(this.env.costs.addBuf / 2, CAT_DRIVER);
    return token;
  }

  /** Pages per big buffer: MAX_SKB_FRAGS + 1 of v3.2. */
  protected bigPages(): number {
    return BIG_PAGES;
  }

  /** The chain of bigPages() pages of a big buffer; a partial chain goes to vi->pages. */
  protected *allocRecvbufBig(gfp: number): KernelCode<number> {
    let list = -1;
    for (let i = this.bigPages(); i > 0; i--) {
      list = this.chainPage(list, yield* this.getAPage(gfp));
      if (list < 0) return -ENOMEM;
    }
    return this.allocated(list);
  }

  protected allocRecvbufBigNoWait(gfp: number): number {
    let list = -1;
    for (let i = this.bigPages(); i > 0; i--) {
      list = this.chainPage(list, this.getAPageNoWait(gfp));
      if (list < 0) return -ENOMEM;
    }
    return this.allocated(list);
  }

  /** Chains `page` in at the list head to match sg; when it is -1, gives `list` to vi->pages. */
  private chainPage(list: number, page: number): number {
    if (page < 0) {
      if (list >= 0) this.givePages(list);
      return -1;
    }
    this.env.skbs.pageNext[page] = list;
    return page;
  }

  protected *allocRecvbufMergeable(gfp: number): KernelCode<number> {
    const page = yield* this.getAPage(gfp);
    return page < 0 ? -ENOMEM : this.allocated(page);
  }

  protected allocRecvbufMergeableNoWait(gfp: number): number {
    const page = this.getAPageNoWait(gfp);
    return page < 0 ? -ENOMEM : this.allocated(page);
  }

  /**
   * Posts an allocated buffer (virtqueue_add_buf_gfp); on failure the buffer is freed, as every
   * add_recvbuf_* does. Returns num_free (≥ 0) or -ENOSPC. The indirect table (if any) is
   * allocated with `gfp` beforehand, since the ring cannot sleep.
   */
  protected *postRecvbuf(token: number, gfp: number): KernelCode<number> {
    const count = this.setRecvSg(token);
    yield* this.env.indirect.prepare(this.vq, count, gfp);
    return this.addRecvSg(token, count);
  }

  protected postRecvbufNoWait(token: number, gfp: number): number {
    const count = this.setRecvSg(token);
    this.env.indirect.prepareAtomic(this.vq, count, gfp);
    return this.addRecvSg(token, count);
  }

  /** virtqueue_add_buf of this.sg's `count` entries, the indirect table prepared. */
  private addRecvSg(token: number, count: number): number {
    const err = this.vq.addBuf(0, count, this.sg, token);
    this.env.indirect.release();
    this.k.charge(this.env.costs.addBuf / 2, CAT_DRIVER);
    if (err < 0) {
      this.stats.buffersFreedNoSpace++;
      this.freeRecvbuf(token);
    } else {
      this.stats.buffersPosted++;
    }
    return err;
  }

  /** Fills this.sg for the buffer `token` of the current mode, as add_recvbuf_* does; returns its entries. */
  protected setRecvSg(token: number): number {
    const sg = this.sg;
    let count: number;
    if (this.mode === "small") {
      // sg[0]: the virtio_net_hdr in skb->cb; sg[1]: the data area.
      sg.set(0, BUFFER_GPA_BASE + token * PAGE_SIZE, VNET_HDR_LEN);
      sg.set(1, BUFFER_GPA_BASE + token * PAGE_SIZE + 64, MAX_PACKET_LEN);
      count = 2;
    } else if (this.mode === "big") {
      // sg[0] = first page's header, sg[1] = its rest after padded_vnet_hdr, then one per page.
      sg.set(0, BUFFER_GPA_BASE + token * PAGE_SIZE, VNET_HDR_LEN);
      sg.set(1, BUFFER_GPA_BASE + token * PAGE_SIZE + PADDED_VNET_HDR_LEN, PAGE_SIZE - PADDED_VNET_HDR_LEN);
      let p = this.env.skbs.pageNext[token]!;
      count = 2;
      while (p >= 0) {
        sg.set(count++, BUFFER_GPA_BASE + p * PAGE_SIZE, PAGE_SIZE);
        p = this.env.skbs.pageNext[p]!;
      }
    } else {
      sg.set(0, BUFFER_GPA_BASE + token * PAGE_SIZE, PAGE_SIZE);
      count = 1;
    }
    return count;
  }

  /** add_recvbuf_*(vi, gfp) of v3.2: allocate, then post. */
  protected *addRecvbuf(gfp: number): KernelCode<number> {
    const token = yield* this.allocRecvbuf(gfp);
    if (token < 0) return token;
    return yield* this.postRecvbuf(token, gfp);
  }

  protected addRecvbufNoWait(gfp: number): number {
    const token = this.allocRecvbufNoWait(gfp);
    if (token < 0) return token;
    return this.postRecvbufNoWait(token, gfp);
  }

  /** Frees a buffer that never reached the device: dev_kfree_skb or give_pages. */
  protected freeRecvbuf(token: number): void {
    if (this.mode === "small") this.env.skbs.kfree(token);
    else this.givePages(token);
  }

  // ---- receive ----------------------------------------------------------------------------------

  /** The fixed cost of one virtnet_poll call. */
  protected chargePoll(): void {
    this.k.charge(this.env.costs.napiPoll, CAT_DRIVER);
  }

  /** virtqueue_get_buf + receive_buf for one used buffer; returns false when none is left. */
  protected receiveOne(): boolean {
    const token = this.vq.getBuf();
    if (token < 0) return false;
    this.stats.buffersConsumed++;
    const head = this.vq.lastId;
    const numBuf = this.mode === "mergeable" ? this.env.numBuffersAt(head) : 1;
    this.receiveBuf(token, this.vq.lastLen, this.env.packetAt(head), numBuf);
    return true;
  }

  /**
   * receive_buf (v3.2): check the length, build the skb (in mergeable mode from all `numBuf`
   * buffers of the frame), hand it to the stack.
   */
  protected receiveBuf(token: number, len: number, pkt: number, numBuf: number): void {
    const env = this.env;
    const skbs = env.skbs;
    this.k.charge(env.costs.receiveBuf, CAT_DRIVER);
    if (len < this.hdrLen + ETH_HLEN) {
      this.stats.rxLengthErrors++;
      this.freeRecvbuf(token);
      this.dropRestOfFrame(numBuf);
      env.dropPacket(pkt);
      return;
    }
    let skb: number;
    if (this.mode === "small") {
      skb = token;
      skbs.len[skb] = len - VNET_HDR_LEN; // skb_trim
    } else {
      skb = this.pageToSkb(token, len);
      if (skb === NO_SKB) {
        this.stats.rxDroppedNoMem++;
        this.givePages(token);
        this.dropRestOfFrame(numBuf);
        env.dropPacket(pkt);
        return;
      }
      if (numBuf > 1 && !this.mergeableFrags(skb, numBuf)) {
        skbs.kfree(skb);
        env.dropPacket(pkt);
        return;
      }
    }
    this.deliverSkb(skb, pkt);
  }

  /** The end of receive_buf: the skb carries the packet up the stack. */
  protected deliverSkb(skb: number, pkt: number): void {
    const skbs = this.env.skbs;
    skbs.pkt[skb] = pkt;
    this.stats.rxPackets++;
    this.stats.rxBytes += skbs.len[skb]!;
    this.env.netifReceiveSkb(skb);
  }

  /**
   * receive_mergeable (v3.2): the frame's other num_buffers − 1 buffers, each one page, become page
   * fragments of the skb page_to_skb built from the first (set_skb_frag: truesize += PAGE_SIZE),
   * and each leaves the ring (--vi->num). False, with rx_length_errors counted, when the skb would
   * need more than MAX_SKB_FRAGS fragments or a buffer is missing.
   */
  protected mergeableFrags(skb: number, numBuf: number): boolean {
    const mm = this.env.mm;
    const skbs = this.env.skbs;
    let nrFrags = skbs.nrFrags(skb);
    while (--numBuf) {
      if (nrFrags >= MAX_SKB_FRAGS) {
        this.stats.rxLengthErrors++;
        this.dropRestOfFrame(numBuf + 1);
        return false;
      }
      const page = this.vq.getBuf();
      if (page < 0) {
        this.stats.rxLengthErrors++;
        return false;
      }
      this.stats.buffersConsumed++;
      const len = Math.min(this.vq.lastLen, PAGE_SIZE);
      mm.setOwner(page, mm.owners.rxRing, mm.owners.skb);
      skbs.addFrag(skb, page);
      nrFrags++;
      skbs.truesize[skb]! += PAGE_SIZE;
      skbs.len[skb]! += len;
      --this.num;
    }
    return true;
  }

  /**
   * The frame's buffers after the first, when the frame is dropped: taken off the ring and their
   * pages returned to vi->pages. v3.2 leaves them on the ring, where they are later parsed as frames
   * of their own from payload bytes (fixed in later kernels' receive_mergeable error path); the
   * model carries no payload bytes, so it takes the later kernels' behaviour.
   */
  protected dropRestOfFrame(numBuf: number): void {
    while (--numBuf > 0) {
      const page = this.vq.getBuf();
      if (page < 0) return;
      this.stats.buffersConsumed++;
      this.givePages(page);
      --this.num;
    }
  }

  /**
   * The gfp of page_to_skb's data area. v3.2's __alloc_skb kmallocs it with the caller's
   * GFP_ATOMIC (net/core/skbuff.c), so a failure warns.
   */
  protected copySkbDataGfp(): number {
    return GFP_ATOMIC;
  }

  /** page_to_skb's netdev_alloc_skb_ip_align(dev, GOOD_COPY_LEN) (GFP_ATOMIC), or NO_SKB. */
  protected allocCopySkb(): number {
    return this.allocCopySkbFrom(SLAB_KMALLOC_1024, this.copySkbDataGfp(), COPY_HEAD_TRUESIZE);
  }

  /**
   * The copy skb of page_to_skb: an sk_buff head (GFP_ATOMIC) and a data area from `dataSlab` with
   * `dataGfp`, of `truesize`; NO_SKB when either allocation fails (a head already taken is freed).
   */
  protected allocCopySkbFrom(dataSlab: number, dataGfp: number, truesize: number): number {
    const mm = this.env.mm;
    mm.allocSite = ALLOC_SITE_PAGE_TO_SKB;
    const head = mm.slabAllocAtomic(SLAB_SKBUFF_HEAD, GFP_ATOMIC);
    if (head < 0) return NO_SKB;
    return this.env.skbs.withData(head, dataSlab, mm.slabAllocAtomic(dataSlab, dataGfp), truesize);
  }

  /**
   * page_to_skb (v3.2): a GOOD_COPY_LEN skb allocated with GFP_ATOMIC, up to its tailroom copied
   * from the page, the rest attached as page fragments; pages the packet did not use go back to
   * vi->pages. Returns NO_SKB when the head cannot be allocated.
   */
  protected pageToSkb(first: number, len: number): number {
    const env = this.env;
    const skbs = env.skbs;
    const skb = this.allocCopySkb();
    if (skb === NO_SKB) return NO_SKB;
    len -= this.hdrLen;
    let offset = this.mode === "mergeable" ? this.hdrLen : PADDED_VNET_HDR_LEN;
    skbs.len[skb] = len;
    const copy = Math.min(len, COPY_HEAD_TAILROOM);
    this.k.charge(copy * env.costs.copyPerByte, CAT_DRIVER);
    len -= copy;
    offset += copy;
    this.pagesToFrags(skb, first, offset, len, PAGE_SIZE);
    return skb;
  }

  /**
   * page_to_skb's fragment loop: `len` bytes from `offset` of the page chain at `first` become the
   * skb's fragments (set_skb_frag / skb_add_rx_frag, each adding `truesize`); the chain's unused
   * pages go back to vi->pages.
   */
  protected pagesToFrags(skb: number, first: number, offset: number, len: number, truesize: number): void {
    const mm = this.env.mm;
    const skbs = this.env.skbs;
    const next = skbs.pageNext;
    let page = first;
    while (len > 0 && page >= 0) {
      const size = Math.min(PAGE_SIZE - offset, len);
      const following = next[page]!;
      mm.setOwner(page, mm.owners.rxRing, mm.owners.skb);
      skbs.addFrag(skb, page);
      skbs.truesize[skb]! += truesize;
      len -= size;
      offset = 0;
      page = following;
    }
    if (page >= 0) this.givePages(page);
  }
}
