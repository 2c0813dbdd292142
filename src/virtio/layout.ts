/**
 * Split-virtqueue layout in guest memory (VIRTIO 1.x, section "Split Virtqueues"; Linux v3.2
 * include/linux/virtio_ring.h vring_init/vring_size) and little-endian accessors on a DataView.
 *
 * Guest memory is one ArrayBuffer; a guest-physical address is a byte offset into it. The ring lives
 * at `base` inside that buffer:
 *
 *   desc[size]   16 B each: addr u64, len u32, flags u16, next u16
 *   avail        flags u16, idx u16, ring[size] u16, used_event u16
 *   (padding)    legacy: to the next Queue Align boundary; virtio1: to 4 bytes
 *   used         flags u16, idx u16, ring[size] {id u32, len u32}, avail_event u16
 */
import { VirtqueueError } from "./errors.ts";

// Descriptor flags (include/linux/virtio_ring.h; spec "The Virtqueue Descriptor Table").
export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
export const VRING_DESC_F_INDIRECT = 4;
/** Device → driver in used->flags: "don't kick me" (VRING_USED_F_NO_NOTIFY). */
export const VRING_USED_F_NO_NOTIFY = 1;
/** Driver → device in avail->flags: "don't interrupt me" (VRING_AVAIL_F_NO_INTERRUPT). */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
/** Feature bits (include/linux/virtio_ring.h). */
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
export const VIRTIO_RING_F_EVENT_IDX = 29;

/** Spec: "The maximum Queue Size value is 32768" (the largest power of 2 that fits 16 bits). */
export const MAX_QUEUE_SIZE = 32768;
/** sizeof(struct vring_desc). */
export const DESC_SIZE = 16;
/** sizeof(struct vring_used_elem). */
export const USED_ELEM_SIZE = 8;
/**
 * Queue Align of the legacy virtio-pci transport: used ring on the next 4096-byte boundary
 * (Linux v3.2 include/linux/virtio_pci.h VIRTIO_PCI_VRING_ALIGN, used by virtio_pci.c setup_vq).
 */
export const VIRTIO_PCI_VRING_ALIGN = 4096;
/** VIRTIO 1.x per-part alignment (spec table; Linux VRING_{DESC,AVAIL,USED}_ALIGN_SIZE). */
export const VRING_DESC_ALIGN_SIZE = 16;
export const VRING_AVAIL_ALIGN_SIZE = 2;
export const VRING_USED_ALIGN_SIZE = 4;

/**
 * "legacy": what Linux v3.2's virtio_pci uses (vring_init with VIRTIO_PCI_VRING_ALIGN), the default
 * because that is the guest this project models. "virtio1": the per-part minimum alignments of VIRTIO
 * 1.x, parts packed back to back.
 */
export type RingAlignment = "legacy" | "virtio1";

/** Absolute byte offsets of every ring part inside guest memory. */
export interface VringLayout {
  readonly size: number;
  readonly alignment: RingAlignment;
  readonly base: number;
  readonly desc: number;
  readonly avail: number;
  /** avail->ring[size]: where the driver publishes used_event (vring_used_event). */
  readonly usedEvent: number;
  readonly used: number;
  /** used->ring[size]: where the device publishes avail_event (vring_avail_event). */
  readonly availEvent: number;
  /** One past the last byte the ring uses (base + Linux's vring_size). */
  readonly end: number;
  /**
   * Bytes to reserve from `base`: legacy rounds up to Queue Align (virtio_pci setup_vq:
   * PAGE_ALIGN(vring_size(num, VIRTIO_PCI_VRING_ALIGN)); the spec's legacy virtq_size formula);
   * virtio1 needs exactly end - base.
   */
  readonly bytes: number;
}

export function isValidQueueSize(size: number): boolean {
  return Number.isInteger(size) && size >= 1 && size <= MAX_QUEUE_SIZE && (size & (size - 1)) === 0;
}

function alignUp(x: number, align: number): number {
  return Math.ceil(x / align) * align;
}

/** The alignment `base` must have: the first part's, or Queue Align for legacy (pages). */
export function baseAlignment(alignment: RingAlignment): number {
  return alignment === "legacy" ? VIRTIO_PCI_VRING_ALIGN : VRING_DESC_ALIGN_SIZE;
}

/** Computes where each part of a `size`-entry ring starting at `base` lives. */
export function vringLayout(size: number, base = 0, alignment: RingAlignment = "legacy"): VringLayout {
  if (!isValidQueueSize(size)) {
    throw new VirtqueueError(
      "invalid-size",
      `queue size ${size} is not a power of two in 1..${MAX_QUEUE_SIZE}`,
    );
  }
  const align = baseAlignment(alignment);
  if (!Number.isSafeInteger(base) || base < 0 || base % align !== 0) {
    throw new VirtqueueError("misaligned", `ring base ${base} is not a multiple of ${align} (${alignment})`);
  }
  const desc = base;
  const avail = desc + DESC_SIZE * size;
  const usedEvent = avail + 4 + 2 * size;
  const availEnd = usedEvent + 2;
  // vring_init: used = ALIGN(&avail->ring[num] + sizeof(u16), align). base is aligned, so aligning the
  // absolute offset equals aligning the offset from base.
  const used = alignUp(availEnd, alignment === "legacy" ? VIRTIO_PCI_VRING_ALIGN : VRING_USED_ALIGN_SIZE);
  const availEvent = used + 4 + USED_ELEM_SIZE * size;
  const end = availEvent + 2;
  const bytes = alignment === "legacy" ? alignUp(end - base, VIRTIO_PCI_VRING_ALIGN) : end - base;
  return { size, alignment, base, desc, avail, usedEvent, used, availEvent, end, bytes };
}

/** Bytes of guest memory a ring needs from its base (the helper callers size their ArrayBuffer with). */
export function vringBytes(size: number, alignment: RingAlignment = "legacy"): number {
  return vringLayout(size, 0, alignment).bytes;
}

/** Throws unless the whole ring lies inside guest memory (rust-vmm Queue::is_valid). */
export function checkLayoutFits(layout: VringLayout, memoryBytes: number): void {
  if (layout.base + layout.bytes > memoryBytes) {
    throw new VirtqueueError(
      "ring-out-of-bounds",
      `ring of size ${layout.size} at ${layout.base} needs ${layout.bytes} bytes but guest memory is ${memoryBytes} bytes`,
    );
  }
}

/**
 * include/linux/virtio_ring.h vring_need_event: having moved an index from `old` to `newIdx`, is the
 * other side's event index among the entries just passed? All arithmetic is u16.
 */
export function vringNeedEvent(eventIdx: number, newIdx: number, old: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - old) & 0xffff);
}

// Little-endian accessors: the spec's le16/le32/le64 fields (legacy uses guest-native order, which is
// little-endian on the x86 guests modelled here).
export function readU16(view: DataView, off: number): number {
  return view.getUint16(off, true);
}
export function writeU16(view: DataView, off: number, v: number): void {
  view.setUint16(off, v, true);
}
export function readU32(view: DataView, off: number): number {
  return view.getUint32(off, true);
}
export function writeU32(view: DataView, off: number, v: number): void {
  view.setUint32(off, v, true);
}
/** 2^-32: exact as a double, so multiplying by it equals dividing by 2^32. */
const U32_RECIPROCAL = 1 / 4294967296;
/**
 * u64 as a JS number (two u32 halves, no BigInt allocation). Exact below 2^53; larger values come out
 * rounded but still far beyond any guest memory, which is all the range checks need.
 */
export function readU64(view: DataView, off: number): number {
  return view.getUint32(off + 4, true) * 4294967296 + view.getUint32(off, true);
}
export function writeU64(view: DataView, off: number, v: number): void {
  const lo = v >>> 0;
  view.setUint32(off, lo, true);
  // v - lo is a multiple of 2^32, so scaling by 2^-32 is exact and, unlike the division, cheap.
  view.setUint32(off + 4, (v - lo) * U32_RECIPROCAL, true);
}

/**
 * A descriptor's flags (u16 at 12) and next (u16 at 14) as one little-endian u32 store or load: the
 * same bytes as two u16 accesses, one DataView call fewer per descriptor.
 */
export function writeDescFlagsNext(view: DataView, desc: number, flags: number, next: number): void {
  view.setUint32(desc + 12, flags | (next << 16), true);
}
export function readDescFlagsNext(view: DataView, desc: number): number {
  return view.getUint32(desc + 12, true);
}

/** Offset of descriptor `i` of the table at `table`. Field offsets: addr 0, len 8, flags 12, next 14. */
export function descOffset(table: number, i: number): number {
  return table + DESC_SIZE * i;
}
