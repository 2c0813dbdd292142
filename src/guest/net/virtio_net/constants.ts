/**
 * Sizes and limits of drivers/net/virtio_net.c (v3.2) and the structures it posts. Sources:
 * kernel-facts.md §1.1, §1.4 and §3.8 (x86_64, 4 KiB pages, 64-byte cache lines).
 */

export const PAGE_SIZE = 4096;
/** MAX_PACKET_LEN = ETH_HLEN + VLAN_HLEN + ETH_DATA_LEN (virtio_net.c). */
export const MAX_PACKET_LEN = 14 + 4 + 1500;
/** GOOD_COPY_LEN (virtio_net.c): bytes page_to_skb asks for when copying a packet's head. */
export const GOOD_COPY_LEN = 128;
/** MAX_SKB_FRAGS = 65536/PAGE_SIZE + 2 (include/linux/skbuff.h). */
export const MAX_SKB_FRAGS = 18;
/** ETH_HLEN: receive_buf drops anything shorter than a header plus this. */
export const ETH_HLEN = 14;
/** sizeof(struct virtio_net_hdr). */
export const VNET_HDR_LEN = 10;
/** sizeof(struct virtio_net_hdr_mrg_rxbuf): adds num_buffers. */
export const VNET_MRG_HDR_LEN = 12;
/** sizeof(struct padded_vnet_hdr): where big-mode data starts in the first page. */
export const PADDED_VNET_HDR_LEN = 16;
/**
 * Tailroom of the GOOD_COPY_LEN skb: __alloc_skb(128 + NET_SKB_PAD 64) → 192 + 384 shinfo = 576
 * → kmalloc-1024, ksize 1024 - 384 shinfo - 64 reserved = 576 bytes copied into the head.
 */
export const COPY_HEAD_TAILROOM = 576;
/** SKB_DATA_ALIGN(sizeof(struct sk_buff)), config-dependent (kernel-facts §1.4: ≈ 256). */
export const SKB_HEAD_TRUESIZE = 256;
/** Small buffer: 1984-byte data area → kmalloc-2048, plus the sk_buff head. */
export const SMALL_TRUESIZE = 2048 + SKB_HEAD_TRUESIZE;
/** page_to_skb head: kmalloc-1024 + sk_buff; each page fragment adds PAGE_SIZE (set_skb_frag). */
export const COPY_HEAD_TRUESIZE = 1024 + SKB_HEAD_TRUESIZE;
/** Pages per big buffer: MAX_SKB_FRAGS + 1, posted as MAX_SKB_FRAGS + 2 sg entries. */
export const BIG_PAGES = MAX_SKB_FRAGS + 1;
export const BIG_SG = MAX_SKB_FRAGS + 2;

export type RxMode = "small" | "big" | "mergeable";

/** CPU cost of the driver's own work, in ns (documented assumptions, overridable). */
export interface DriverCosts {
  /** Filling an sg list and virtqueue_add_buf for one buffer. */
  addBuf: number;
  /** virtqueue_get_buf + receive_buf bookkeeping per packet (not the stack above it). */
  receiveBuf: number;
  /** Copying bytes into the page_to_skb head, per byte. */
  copyPerByte: number;
  /** The guest side of a notification: the I/O port write is a VM exit and re-entry. */
  kick: number;
  /** Fixed cost of one virtnet_poll call. */
  napiPoll: number;
}

export const DEFAULT_DRIVER_COSTS: DriverCosts = {
  // Assumptions for a 2012 x86 guest: a few hundred ns per ring operation, ~0.25 ns/byte memcpy,
  // and a PIO exit round trip of several µs under KVM of that era.
  addBuf: 250,
  receiveBuf: 300,
  copyPerByte: 0.25,
  kick: 5_000,
  napiPoll: 500,
};
