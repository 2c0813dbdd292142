/**
 * One error type for every split-virtqueue violation, with a `kind` per rule (the shape of rust-vmm
 * virtio-queue's `Error` enum). Messages say what was wrong and where (queue, descriptor, index).
 * A model that sees one of these has a bug, or is feeding a deliberately malformed ring: the queue
 * should be treated as broken (Linux's BAD_RING sets vq->broken; QEMU's virtio_error marks the device
 * broken), never retried.
 */
export type VirtqueueErrorKind =
  /** Queue size not a power of two in 1..32768 (VIRTIO 1.x "Split Virtqueues"). */
  | "invalid-size"
  /** A ring part starts at an offset that breaks its alignment rule. */
  | "misaligned"
  /** The ring does not fit inside the guest-memory ArrayBuffer. */
  | "ring-out-of-bounds"
  /** An available-ring entry names a descriptor index >= queue size. */
  | "head-out-of-range"
  /** A descriptor's `next` is >= the size of the table it lives in. */
  | "next-out-of-range"
  /** A chain visits more descriptors than its table holds, so it revisits one. */
  | "descriptor-loop"
  /** A chain has more descriptors than the device accepts (max(size, UIO_MAXIOV)), or over 2^32 bytes. */
  | "chain-too-long"
  /** VRING_DESC_F_INDIRECT inside an indirect table ("only one table per descriptor"). */
  | "nested-indirect"
  /** VRING_DESC_F_INDIRECT together with VRING_DESC_F_NEXT (the spec forbids both). */
  | "indirect-with-next"
  /** VRING_DESC_F_INDIRECT used although VIRTIO_RING_F_INDIRECT_DESC was not negotiated. */
  | "indirect-not-negotiated"
  /** An indirect table whose length is zero or not a multiple of 16. */
  | "indirect-table-length"
  /** An indirect table that runs past the end of guest memory. */
  | "indirect-table-bounds"
  /** avail->idx is more than queue size ahead of the device's next_avail. */
  | "avail-index-too-far"
  /** A device-readable descriptor follows device-writable ones. */
  | "readable-after-writable"
  /** A write larger than the chain's remaining device-writable capacity. */
  | "write-overflow"
  /** A used-ring id that is >= queue size. */
  | "used-id-out-of-range"
  /** A used-ring id that is not the head of a buffer the driver has outstanding. */
  | "used-id-not-head"
  /** A used-ring length beyond the device-writable bytes of the buffer it names. */
  | "used-len-too-long"
  /** A caller broke an API precondition (Linux would BUG_ON). */
  | "invalid-argument"
  /** Two owners inside the driver side of one queue at once (Linux's DEBUG START_USE check). */
  | "concurrent-access";

export class VirtqueueError extends Error {
  override name = "VirtqueueError";
  readonly kind: VirtqueueErrorKind;

  constructor(kind: VirtqueueErrorKind, message: string) {
    super(`${kind}: ${message}`);
    this.kind = kind;
  }
}
