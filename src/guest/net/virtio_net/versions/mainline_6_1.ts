/**
 * `mainline`: Linux v6.1's refill policy (mainline.ts) on v6.1's receive buffers
 * (drivers/net/virtio_net.c of v6.1, checked against unifreq/linux-6.1.y; kernel-facts.md §1.12):
 *
 * - small: add_recvbuf_small posts one sg entry, a slice of the queue's page_frag
 *   (skb_page_frag_refill: an order-3 page without direct reclaim, else an order-0 page with the
 *   caller's gfp; page-frag.ts), holding a page reference per slice. No skb exists until
 *   receive_small calls build_skb (an sk_buff head from skbuff_head_cache, GFP_ATOMIC, in NAPI):
 *   its failure drops the packet and puts the slice;
 * - mergeable: add_recvbuf_mergeable posts page_frag slices sized by get_mergeable_buf_len from the
 *   EWMA of received packet lengths; receive_mergeable builds the head skb with page_to_skb and adds
 *   the frame's further buffers (num_buffers) as fragments, coalescing slices of one page;
 * - big: add_recvbuf_big chains big_packets_num_skbfrags + 1 = MAX_SKB_FRAGS + 1 = 18 pages (6.1's
 *   MAX_SKB_FRAGS is 17), and page_to_skb builds the skb around the first page (build_skb) when the
 *   packet leaves room for skb_shared_info behind it, returning the other pages to rq->pages;
 * - the ring publishes avail->idx with every buffer (virtqueue_add_split) and kicks as
 *   virtqueue_kick_prepare decides.
 *
 * Not modelled: XDP (no headroom), the frag_list skb receive_mergeable chains on when one skb
 * reaches MAX_SKB_FRAGS fragments (alloc_skb(0, GFP_ATOMIC)), napi_skb_cache's bulk refills of
 * sk_buff heads (each head is one skbuff_head_cache allocation here).
 */
import { ModelError } from "../../../../sim/simulator.ts";
import { __GFP_NOWARN, GFP_ATOMIC } from "../../../mm/gfp.ts";
import type { KernelCode } from "../../../sched/kernel.ts";
import { CAT_DRIVER } from "../../../sched/costs.ts";
import {
  ALLOC_SITE_PAGE_TO_SKB,
  ALLOC_SITE_RX_PAGE,
  ALLOC_SITE_SMALL_SKB_HEAD,
  SLAB_KMALLOC_512,
  SLAB_SKBUFF_HEAD,
} from "../../mm-port.ts";
import { PageFrag } from "../../page-frag.ts";
import { NO_SKB, SKB_HEAD_ALIGNED, SKB_SHINFO_6_1, skbDataAlign } from "../../skb.ts";
import { ETH_HLEN, GOOD_COPY_LEN, PADDED_VNET_HDR_LEN, PAGE_SIZE } from "../constants.ts";
import { BUFFER_GPA_BASE, ENOMEM, type VirtnetEnv, type VirtnetOptions } from "../virtnet.ts";
import { Mainline } from "./mainline.ts";

/** GOOD_PACKET_LEN = ETH_HLEN + VLAN_HLEN + ETH_DATA_LEN (virtio_net.c). */
export const GOOD_PACKET_LEN = 14 + 4 + 1500;
/** VIRTNET_RX_PAD = NET_IP_ALIGN + NET_SKB_PAD: 0 + max(32, L1_CACHE_BYTES) on x86_64. */
export const VIRTNET_RX_PAD = 64;
/** MAX_SKB_FRAGS = 65536/PAGE_SIZE + 1 (include/linux/skbuff.h, v6.1). */
export const MAX_SKB_FRAGS_6_1 = 17;
/** ETH_MAX_MTU: dev->max_mtu = MAX_MTU without VIRTIO_NET_F_MTU, and IP_MAX_MTU (virtnet_probe). */
export const ETH_MAX_MTU = 65535;
/** VLAN_HLEN (include/linux/if_vlan.h). */
const VLAN_HLEN = 4;
/** L1_CACHE_BYTES on x86_64: get_mergeable_buf_len's ALIGN. */
const L1_CACHE_BYTES = 64;
/** DECLARE_EWMA(pkt_len, 0, 64): precision 0, weight_rcp 64, so ilog2(64) = 6 shifts. */
const EWMA_PKT_LEN_WEIGHT_SHIFT = 6;
/**
 * napi_alloc_skb(napi, GOOD_COPY_LEN) in v6.1: len 128 + NET_SKB_PAD 64 ≤ SKB_WITH_OVERHEAD(1024),
 * so __alloc_skb kmallocs SKB_DATA_ALIGN(192) + 320 = 512 bytes (kmalloc-512) with
 * __GFP_NOMEMALLOC | __GFP_NOWARN first (kmalloc_reserve). Its tailroom: 512 - 320 - 64 = 128.
 */
const NAPI_COPY_SKB_TAILROOM = 512 - SKB_SHINFO_6_1 - VIRTNET_RX_PAD;
const NAPI_COPY_SKB_TRUESIZE = 512 + SKB_HEAD_ALIGNED;

/**
 * mergeable_min_buf_len (v6.1): the smallest buffer of which a full ring still holds one maximal
 * packet, but never below GOOD_PACKET_LEN.
 */
export function mergeableMinBufLen(hdrLen: number, ringSize: number): number {
  const bufLen = hdrLen + ETH_HLEN + VLAN_HLEN + ETH_MAX_MTU;
  const min = Math.ceil(bufLen / ringSize);
  return Math.max(Math.max(min, hdrLen) - hdrLen, GOOD_PACKET_LEN);
}

/** ewma_pkt_len_add: the first sample sets the average, later ones move it by 1/64 of the difference. */
export function ewmaPktLenAdd(internal: number, val: number): number {
  if (internal === 0) return val;
  return (((internal << EWMA_PKT_LEN_WEIGHT_SHIFT) - internal + val) >> EWMA_PKT_LEN_WEIGHT_SHIFT) >>> 0;
}

export class Mainline61 extends Mainline {
  static override readonly availPerAdd: boolean = true;
  override readonly version: string = "mainline";
  /** rq->alloc_frag. */
  readonly frag: PageFrag;
  /** rq->mrg_avg_pkt_len's internal value, and rq->min_buf_len. */
  avgPktLen = 0;
  readonly minBufLen: number;
  /**
   * Posted page_frag buffers by token: the page (head pfn), the slice's offset and its truesize
   * (the ctx of add_recvbuf_mergeable); a free stack of tokens.
   */
  private readonly slicePage: Int32Array;
  private readonly sliceOffset: Int32Array;
  private readonly sliceTruesize: Int32Array;
  private readonly freeSlices: Int32Array;
  private freeSliceTop = 0;

  constructor(env: VirtnetEnv, opts: VirtnetOptions) {
    super(env, opts);
    this.frag = new PageFrag(env.mm, this.stats);
    this.minBufLen = mergeableMinBufLen(this.hdrLen, env.vq.size);
    // One per descriptor, and one more: try_fill_recv allocates before it learns the ring is full
    // (the buffer is put again on -ENOSPC).
    const n = env.vq.size + 1;
    this.slicePage = new Int32Array(n).fill(-1);
    this.sliceOffset = new Int32Array(n);
    this.sliceTruesize = new Int32Array(n);
    this.freeSlices = new Int32Array(n);
    for (let i = n - 1; i >= 0; i--) this.freeSlices[this.freeSliceTop++] = i;
  }

  /** add_recvbuf_small's len: SKB_DATA_ALIGN(hdr_len + VIRTNET_RX_PAD + GOOD_PACKET_LEN) + shinfo = 1920. */
  smallBufLen(): number {
    return skbDataAlign(this.hdrLen + VIRTNET_RX_PAD + GOOD_PACKET_LEN) + SKB_SHINFO_6_1;
  }

  /** get_mergeable_buf_len without XDP room: hdr_len + the clamped EWMA, cache-line aligned. */
  mergeableBufLen(): number {
    const avg = Math.min(Math.max(this.avgPktLen, this.minBufLen), PAGE_SIZE - this.hdrLen);
    return Math.ceil((this.hdrLen + avg) / L1_CACHE_BYTES) * L1_CACHE_BYTES;
  }

  /** big_packets_num_skbfrags + 1 with guest GSO: MAX_SKB_FRAGS + 1. */
  protected override bigPages(): number {
    return MAX_SKB_FRAGS_6_1 + 1;
  }

  override heldBytes(): number {
    const f = this.frag;
    if (f.page < 0) return super.heldBytes();
    // The cache's own page: all of it once every slice is back (page_count 1), else what is left.
    const idle = this.env.mm.pageCount(f.page) === 1 ? f.size : f.size - f.offset;
    return super.heldBytes() + idle;
  }

  /** Calls `fn` with the page, offset and truesize of every posted page_frag buffer (for checks). */
  forEachPostedSlice(fn: (page: number, offset: number, truesize: number) => void): void {
    for (let t = 0; t < this.slicePage.length; t++) {
      if (this.slicePage[t]! >= 0) fn(this.slicePage[t]!, this.sliceOffset[t]!, this.sliceTruesize[t]!);
    }
  }

  /** The page_frag part of add_recvbuf_small / add_recvbuf_mergeable: a token, or -ENOMEM. */
  protected override *allocRecvbuf(gfp: number): KernelCode<number> {
    if (this.mode === "big") return yield* this.allocRecvbufBig(gfp);
    const len = this.fragBufLen();
    return this.fragBuf(len, yield* this.frag.refill(len, gfp));
  }

  protected override allocRecvbufNoWait(gfp: number): number {
    if (this.mode === "big") return this.allocRecvbufBigNoWait(gfp);
    const len = this.fragBufLen();
    return this.fragBuf(len, this.frag.refillAtomic(len, gfp));
  }

  /** The length of the next page_frag buffer; the page_frag refill for it allocates rx pages. */
  private fragBufLen(): number {
    this.env.mm.allocSite = ALLOC_SITE_RX_PAGE;
    return this.mode === "mergeable" ? this.mergeableBufLen() : this.smallBufLen();
  }

  /** A slice of `len` bytes of the refilled page_frag (`refilled` false: -ENOMEM). */
  private fragBuf(len: number, refilled: boolean): number {
    if (!refilled) return -ENOMEM;
    const f = this.frag;
    const offset = f.take(len);
    let truesize = len;
    // "if there is very likely not enough space for another buffer, add the remaining space to
    // the current buffer" (mergeable only).
    const hole = f.size - f.offset;
    if (this.mode === "mergeable" && hole < len) {
      truesize += hole;
      f.offset += hole;
    }
    const t = this.freeSlices[--this.freeSliceTop]!;
    this.slicePage[t] = f.page;
    this.sliceOffset[t] = offset;
    this.sliceTruesize[t] = truesize;
    return this.allocated(t);
  }

  /** One sg entry: small at buf + VIRTNET_RX_PAD for hdr_len + GOOD_PACKET_LEN; mergeable the whole slice. */
  protected override setRecvSg(token: number): number {
    if (this.mode === "big") return super.setRecvSg(token);
    const addr = BUFFER_GPA_BASE + this.slicePage[token]! * PAGE_SIZE + this.sliceOffset[token]!;
    if (this.mode === "small") this.sg.set(0, addr + VIRTNET_RX_PAD, this.hdrLen + GOOD_PACKET_LEN);
    else this.sg.set(0, addr, this.sliceTruesize[token]!);
    return 1;
  }

  /** put_page(virt_to_head_page(buf)) for page_frag buffers; give_pages for big ones. */
  protected override freeRecvbuf(token: number): void {
    if (this.mode === "big") super.freeRecvbuf(token);
    else this.env.mm.putPage(this.takeSlice(token));
  }

  /** Ends a token's life on the ring; returns its page, whose reference the caller now holds. */
  private takeSlice(token: number): number {
    const page = this.slicePage[token]!;
    if (page < 0) throw new ModelError(`${this.version}: buffer ${token} is not posted`);
    this.slicePage[token] = -1;
    this.freeSlices[this.freeSliceTop++] = token;
    return page;
  }

  /** receive_buf (v6.1): the length check, then receive_small / receive_big / receive_mergeable. */
  protected override receiveBuf(token: number, len: number, pkt: number): void {
    const env = this.env;
    this.k.charge(env.costs.receiveBuf, CAT_DRIVER);
    if (len < this.hdrLen + ETH_HLEN) {
      this.stats.rxLengthErrors++;
      this.freeRecvbuf(token);
      env.dropPacket(pkt);
      return;
    }
    const skb =
      this.mode === "mergeable"
        ? this.receiveMergeable(token, len)
        : this.mode === "big"
          ? this.receiveBig(token, len)
          : this.receiveSmall(token, len);
    if (skb === NO_SKB) {
      env.dropPacket(pkt);
      return;
    }
    this.deliverSkb(skb, pkt);
  }

  /** stats->drops, which virtnet_stats adds to rx_dropped. */
  private drop(): number {
    this.stats.rxDroppedNoMem++;
    return NO_SKB;
  }

  /** receive_small: build_skb around the slice; a failure drops the packet and puts the slice. */
  private receiveSmall(token: number, len: number): number {
    const page = this.takeSlice(token);
    len -= this.hdrLen;
    if (len > GOOD_PACKET_LEN) {
      this.stats.rxLengthErrors++;
      this.env.mm.putPage(page);
      return this.drop();
    }
    // buflen = SKB_DATA_ALIGN(GOOD_PACKET_LEN + headroom) + shinfo, the slice add_recvbuf_small took.
    const buflen = skbDataAlign(GOOD_PACKET_LEN + this.hdrLen + VIRTNET_RX_PAD) + SKB_SHINFO_6_1;
    const skbs = this.env.skbs;
    const skb = skbs.buildAtomic(page, buflen + SKB_HEAD_ALIGNED, GFP_ATOMIC, ALLOC_SITE_SMALL_SKB_HEAD);
    if (skb === NO_SKB) {
      this.stats.rxSkbAllocFailures++;
      this.env.mm.putPage(page);
      return this.drop();
    }
    skbs.len[skb] = len;
    return skb;
  }

  /** receive_big: the length check, then page_to_skb; a failure gives the whole chain back. */
  private receiveBig(first: number, len: number): number {
    if (len > this.bigPages() * PAGE_SIZE) {
      this.givePages(first);
      return this.drop();
    }
    const skb = this.pageToSkb61(first, 0, len, PAGE_SIZE);
    if (skb === NO_SKB) {
      this.givePages(first);
      return this.drop();
    }
    return skb;
  }

  /**
   * receive_mergeable without XDP: page_to_skb for the first buffer, then num_buffers - 1 more
   * used buffers as fragments; on an error the rest of the frame's buffers are taken and put.
   */
  private receiveMergeable(token: number, len: number): number {
    const env = this.env;
    const skbs = env.skbs;
    const vq = this.vq;
    let numBuf = env.numBuffersAt(vq.lastId);
    let page = this.slicePage[token]!;
    const offset = this.sliceOffset[token]!;
    const truesize = this.sliceTruesize[token]!;
    this.takeSlice(token);
    let head = NO_SKB;
    if (len > truesize) {
      this.stats.rxLengthErrors++;
      return this.mergeableError(page, numBuf, head);
    }
    head = this.pageToSkb61(page, offset, len, truesize);
    if (head === NO_SKB) return this.mergeableError(page, numBuf, head);
    while (--numBuf > 0) {
      const t = this.takeFollowingBuffer();
      if (t < 0) {
        // "rx error: %d buffers out of %d missing"
        this.stats.rxLengthErrors++;
        skbs.kfree(head);
        return this.drop();
      }
      const l = vq.lastLen;
      page = this.slicePage[t]!;
      const off = this.sliceOffset[t]!;
      const ts = this.sliceTruesize[t]!;
      this.takeSlice(t);
      if (l > ts) {
        this.stats.rxLengthErrors++;
        return this.mergeableError(page, numBuf, head);
      }
      skbs.len[head]! += l;
      skbs.truesize[head]! += ts;
      skbs.addRefFrag(head, page, off, l);
    }
    this.avgPktLen = ewmaPktLenAdd(this.avgPktLen, skbs.len[head]!);
    return head;
  }

  /** virtqueue_get_buf for a frame's further buffer: its token, or -1 when the device has none. */
  private takeFollowingBuffer(): number {
    const t = this.vq.getBuf();
    if (t < 0) return -1;
    this.stats.buffersConsumed++;
    this.num--;
    if (this.env.packetAt(this.vq.lastId) >= 0) {
      throw new ModelError(
        `${this.version}: a further buffer of a num_buffers frame carries a packet of its own`,
      );
    }
    return t;
  }

  /** receive_mergeable's err_skb: put this page and every remaining buffer of the frame, count the drop. */
  private mergeableError(page: number, numBuf: number, head: number): number {
    const mm = this.env.mm;
    mm.putPage(page);
    while (numBuf-- > 1) {
      const t = this.takeFollowingBuffer();
      if (t < 0) {
        this.stats.rxLengthErrors++;
        break;
      }
      mm.putPage(this.takeSlice(t));
    }
    if (head !== NO_SKB) this.env.skbs.kfree(head);
    return this.drop();
  }

  /**
   * page_to_skb (v6.1) without XDP headroom. Mergeable: `first` is a page_frag page holding the
   * slice at `offset`, whose reference the skb takes (or that is put when the skb does not need
   * it); big: the chain of a big buffer. With more than GOOD_COPY_LEN bytes and room for
   * skb_shared_info behind them the skb is built around the buffer (build_skb); otherwise a
   * napi_alloc_skb(GOOD_COPY_LEN) head takes the frame if it fits, else ETH_HLEN of it, and the
   * rest becomes fragments. NO_SKB when the sk_buff or its head cannot be allocated.
   */
  private pageToSkb61(first: number, offset: number, len: number, truesize: number): number {
    const env = this.env;
    const mm = env.mm;
    const skbs = env.skbs;
    const merge = this.mode === "mergeable";
    const hdrPaddedLen = merge ? this.hdrLen : PADDED_VNET_HDR_LEN;
    len -= this.hdrLen;
    const tailroom = truesize - hdrPaddedLen - len;
    offset += hdrPaddedLen;
    const next = skbs.pageNext;
    if (len > GOOD_COPY_LEN && tailroom >= SKB_SHINFO_6_1) {
      if (merge) {
        const skb = skbs.buildAtomic(first, truesize + SKB_HEAD_ALIGNED, GFP_ATOMIC, ALLOC_SITE_PAGE_TO_SKB);
        if (skb === NO_SKB) return this.skbAllocFailed();
        skbs.len[skb] = len;
        return skb;
      }
      mm.allocSite = ALLOC_SITE_PAGE_TO_SKB;
      const head = mm.slabAllocAtomic(SLAB_SKBUFF_HEAD, GFP_ATOMIC);
      if (head < 0) return this.skbAllocFailed();
      const skb = skbs.take(head, PAGE_SIZE + SKB_HEAD_ALIGNED);
      // The skb's head is the first page: freed with the skb, as a fragment page is.
      const rest = next[first]!;
      mm.setOwner(first, mm.owners.rxRing, mm.owners.skb);
      skbs.addFrag(skb, first);
      skbs.len[skb] = len;
      if (rest >= 0) this.givePages(rest);
      return skb;
    }
    const skb = this.napiAllocCopySkb();
    if (skb === NO_SKB) return this.skbAllocFailed();
    skbs.len[skb] = len;
    const copy = len <= NAPI_COPY_SKB_TAILROOM ? len : ETH_HLEN;
    this.k.charge(copy * env.costs.copyPerByte, CAT_DRIVER);
    len -= copy;
    offset += copy;
    if (merge) {
      if (len > 0) {
        skbs.addRefFrag(skb, first, offset, len);
        skbs.truesize[skb]! += truesize;
      } else {
        mm.putPage(first);
      }
      return skb;
    }
    this.pagesToFrags(skb, first, offset, len, truesize);
    return skb;
  }

  private skbAllocFailed(): number {
    this.stats.rxSkbAllocFailures++;
    return NO_SKB;
  }

  /** napi_alloc_skb(GOOD_COPY_LEN): an sk_buff head and a kmalloc-512 data area, or NO_SKB. */
  private napiAllocCopySkb(): number {
    return this.allocCopySkbFrom(SLAB_KMALLOC_512, GFP_ATOMIC | __GFP_NOWARN, NAPI_COPY_SKB_TRUESIZE);
  }
}
