/**
 * Device (host) side of a split virtqueue, shaped like rust-vmm virtio-queue's `Queue` (pop chains,
 * add_used, needs_notification, enable/disable_notification) with the used-ring batching of QEMU's
 * virtqueue_fill/virtqueue_flush and the interrupt decision of Linux drivers/vhost/vhost.c vhost_notify.
 * The canonical device loop (vhost-net handle_rx and rust-vmm's queue.rs example):
 *
 * ```ts
 * const dev = new VirtqueueDevice(memory, layout, { eventIdx: true, indirect: true });
 * for (;;) {
 *   dev.disableNotification();                  // no kicks while we drain
 *   for (let head = dev.popChain(); head >= 0; head = dev.popChain()) {
 *     const chain = dev.chain;                  // reused cursor over this chain's descriptors
 *     chain.writeNetHdr(10, 1);                 // real header bytes, when inside guest memory
 *     chain.write(packetLength);                // payload: lengths only
 *     dev.addUsed(head, chain.written);
 *   }
 *   dev.publishUsed();                          // used->idx: the driver sees them now
 *   if (dev.needsNotification()) { }            // inject an interrupt
 *   if (!dev.enableNotification()) break;       // recheck: a kick may have raced the re-enable
 * }
 * ```
 *
 * Everything the driver wrote is validated before use (bad heads, loops, malformed indirect tables, an
 * avail->idx too far ahead): a violation throws VirtqueueError, never hangs. Work per popChain is
 * bounded by the queue size plus UIO_MAXIOV. Descriptor buffer addresses are opaque (payload bytes are not modelled),
 * except that bytes written with writeBytes land in guest memory when the target lies inside it.
 */
import { VirtqueueError } from "./errors.ts";
import {
  checkLayoutFits,
  DESC_SIZE,
  readDescFlagsNext,
  readU16,
  readU32,
  readU64,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_USED_F_NO_NOTIFY,
  type VringLayout,
  vringNeedEvent,
  writeU16,
  writeU32,
} from "./layout.ts";

/** sizeof(struct virtio_net_hdr) and sizeof(struct virtio_net_hdr_mrg_rxbuf) (include/linux/virtio_net.h). */
export const VIRTIO_NET_HDR_LEN = 10;
export const VIRTIO_NET_HDR_MRG_RXBUF_LEN = 12;
/** Offset of num_buffers in virtio_net_hdr_mrg_rxbuf. */
export const NUM_BUFFERS_OFFSET = 10;
/** Spec: "Drivers MUST NOT add a descriptor chain longer than 2^32 bytes in total". */
const MAX_CHAIN_BYTES = 0xffffffff;
/**
 * Most descriptors a chain may have when an indirect table makes it longer than the queue: vhost maps a
 * chain into `struct iovec iov[UIO_MAXIOV]` (drivers/vhost/vhost.h, UIO_MAXIOV = 1024). The spec asks
 * drivers to stay within the queue size, but Linux v3.2 only enforces that on the direct path
 * (vring_add_indirect takes any out + in), and the spec lets a device pick "a reasonable limit".
 */
export const UIO_MAXIOV = 1024;

/**
 * The descriptors of the chain popped last, flattened (indirect tables resolved). One instance per
 * device, overwritten by every popChain, so no allocation per chain.
 */
export class DescriptorChain {
  /** Head descriptor index (the id for addUsed), -1 before the first pop. */
  head = -1;
  /** Descriptors in the chain (indirect tables expanded; the INDIRECT descriptor itself not counted). */
  count = 0;
  /** Most descriptors a chain may have: max(queue size, UIO_MAXIOV). */
  readonly capacity: number;
  /** Per descriptor: guest address, length, flags. Valid for indices < count. */
  readonly addr: Float64Array;
  readonly len: Uint32Array;
  readonly flags: Uint16Array;
  readableBytes = 0;
  writableBytes = 0;
  /** Index of the first device-writable descriptor, -1 if none. */
  firstWritable = -1;
  /** Index of a device-readable descriptor that follows writable ones, -1 if the order is valid. */
  misplacedReadable = -1;
  /** Whether the chain went through an indirect table. */
  indirect = false;
  /** Bytes written into the writable part so far (what addUsed should report). */
  written = 0;

  private readonly guest: Uint8Array;
  private readonly hdr = new Uint8Array(VIRTIO_NET_HDR_MRG_RXBUF_LEN);

  constructor(memory: ArrayBuffer, capacity: number) {
    this.capacity = capacity;
    this.guest = new Uint8Array(memory);
    this.addr = new Float64Array(capacity);
    this.len = new Uint32Array(capacity);
    this.flags = new Uint16Array(capacity);
  }

  /** @internal Starts a new chain (called by the device's walk). */
  reset(head: number): void {
    this.head = head;
    this.count = 0;
    this.readableBytes = 0;
    this.writableBytes = 0;
    this.firstWritable = -1;
    this.misplacedReadable = -1;
    this.indirect = false;
    this.written = 0;
  }

  /** Device-writable bytes not yet written. */
  get remaining(): number {
    return this.writableBytes - this.written;
  }

  private checkWrite(n: number): void {
    if (this.misplacedReadable >= 0) {
      throw new VirtqueueError(
        "readable-after-writable",
        `chain ${this.head}: descriptor ${this.misplacedReadable} is device-readable but follows device-writable ones`,
      );
    }
    if (!(Number.isInteger(n) && n >= 0) || n > this.remaining) {
      throw new VirtqueueError(
        "write-overflow",
        `chain ${this.head}: writing ${n} bytes at ${this.written} exceeds ${this.writableBytes} writable bytes`,
      );
    }
  }

  /** Accounts n payload bytes written into the writable descriptors (bytes are not materialised). */
  write(n: number): number {
    this.checkWrite(n);
    this.written += n;
    return n;
  }

  /**
   * Writes src[0..n) at the current write position. Each piece whose whole target range lies inside
   * guest memory is copied there; pieces aimed outside (opaque payload addresses) are only counted.
   */
  writeBytes(src: Uint8Array, n: number): number {
    this.checkWrite(n);
    let skip = this.written;
    let done = 0;
    for (let k = this.firstWritable; k < this.count && done < n; k++) {
      const len = this.len[k]!;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const piece = Math.min(len - skip, n - done);
      const target = this.addr[k]! + skip;
      if (target + piece <= this.guest.length) {
        for (let j = 0; j < piece; j++) this.guest[target + j] = src[done + j]!;
      }
      done += piece;
      skip = 0;
    }
    this.written += n;
    return n;
  }

  /**
   * Writes a virtio_net_hdr with no checksum or GSO (flags 0, gso_type VIRTIO_NET_HDR_GSO_NONE): 10 bytes,
   * or 12 with num_buffers (little-endian) when mergeable rx buffers were negotiated.
   */
  writeNetHdr(hdrLen: number, numBuffers: number): number {
    if (hdrLen !== VIRTIO_NET_HDR_LEN && hdrLen !== VIRTIO_NET_HDR_MRG_RXBUF_LEN) {
      throw new VirtqueueError(
        "invalid-argument",
        `chain ${this.head}: virtio_net_hdr length ${hdrLen} is not 10 or 12`,
      );
    }
    // Bytes 0..9 of the scratch header stay zero; only num_buffers changes.
    this.hdr[NUM_BUFFERS_OFFSET] = numBuffers & 0xff;
    this.hdr[NUM_BUFFERS_OFFSET + 1] = (numBuffers >>> 8) & 0xff;
    return this.writeBytes(this.hdr, hdrLen);
  }

  /**
   * Guest address of writable byte `pos` of this chain, or -1 past the end: lets a device patch a
   * field later (QEMU fills num_buffers of a mergeable packet after it knows how many buffers it took).
   */
  writableAddress(pos: number): number {
    if (this.firstWritable < 0 || pos < 0) return -1;
    for (let k = this.firstWritable; k < this.count; k++) {
      const len = this.len[k]!;
      if (pos < len) return this.addr[k]! + pos;
      pos -= len;
    }
    return -1;
  }
}

export interface VirtqueueDeviceOptions {
  /** Used in error messages. */
  name?: string;
  /** VIRTIO_RING_F_EVENT_IDX negotiated. */
  eventIdx?: boolean;
  /** VIRTIO_RING_F_INDIRECT_DESC negotiated; without it an INDIRECT descriptor is an error. */
  indirect?: boolean;
  /** Starting value of next_avail/next_used (VHOST_SET_VRING_BASE); must match the driver's. */
  initialIndex?: number;
}

export class VirtqueueDevice {
  readonly name: string;
  readonly layout: VringLayout;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  /** The chain popChain returned last. */
  readonly chain: DescriptorChain;

  private readonly view: DataView;
  private readonly memoryBytes: number;
  private readonly mask: number;
  /** Tail position of the available ring: the next entry to pop. */
  private _nextAvail: number;
  /** avail->idx as availableCount last read it (vhost's vq->avail_idx). */
  private seenAvail: number;
  /** Head position of the used ring: where addUsed writes next. */
  private _nextUsed: number;
  /** used->idx as last published. */
  private publishedUsed: number;
  /** used->idx at the last needsNotification (vhost signalled_used). */
  private signalledUsed: number;
  /** Whether signalledUsed is meaningful yet (vhost signalled_used_valid). */
  private signalledUsedValid = false;

  constructor(memory: ArrayBuffer, layout: VringLayout, options: VirtqueueDeviceOptions = {}) {
    checkLayoutFits(layout, memory.byteLength);
    this.name = options.name ?? "vq";
    this.layout = layout;
    this.size = layout.size;
    this.mask = layout.size - 1;
    this.eventIdx = options.eventIdx ?? false;
    this.indirect = options.indirect ?? false;
    this.view = new DataView(memory);
    this.memoryBytes = memory.byteLength;
    this.chain = new DescriptorChain(memory, Math.max(layout.size, UIO_MAXIOV));
    const start = options.initialIndex ?? 0;
    if (!(Number.isInteger(start) && start >= 0 && start <= 0xffff)) {
      throw new VirtqueueError("invalid-argument", `${this.name}: initialIndex ${start} is not a u16`);
    }
    this._nextAvail = start;
    this.seenAvail = start;
    this._nextUsed = start;
    this.publishedUsed = start;
    this.signalledUsed = start;
  }

  get nextAvail(): number {
    return this._nextAvail;
  }

  get nextUsed(): number {
    return this._nextUsed;
  }

  /** Available entries not yet popped (avail->idx - next_avail), validated against the queue size. */
  availableCount(): number {
    const idx = readU16(this.view, this.layout.avail + 2);
    this.seenAvail = idx;
    const count = (idx - this._nextAvail) & 0xffff;
    // rust-vmm AvailIter::new: more than size pending means the driver exposed an entry twice.
    if (count > this.size) {
      throw new VirtqueueError(
        "avail-index-too-far",
        `${this.name}: avail->idx is ${count} entries ahead of next_avail ${this._nextAvail} (queue size ${this.size})`,
      );
    }
    return count;
  }

  /**
   * The head of the next available chain, with its descriptors in `chain`, or -1 when the driver has
   * published nothing new. A full ring (size entries pending) is not empty: emptiness is the u16
   * comparison avail->idx == next_avail, never a modulo-size difference. next_avail advances before
   * the chain is validated, so a malformed chain is consumed, not retried.
   */
  popChain(): number {
    // avail->idx is read again only when the entries of the last read are used up, as rust-vmm's
    // AvailIter and Linux 4.x vhost_get_vq_desc ("if (vq->avail_idx == vq->last_avail_idx)") do.
    if (this._nextAvail === this.seenAvail && this.availableCount() === 0) return -1;
    const head = readU16(this.view, this.layout.avail + 4 + 2 * (this._nextAvail & this.mask));
    this._nextAvail = (this._nextAvail + 1) & 0xffff;
    this.walk(head);
    return head;
  }

  /** Un-pops the last n chains (vhost_discard_vq_desc; rust-vmm go_to_previous_position). */
  discardChains(n: number): void {
    const inFlight = (this._nextAvail - this._nextUsed) & 0xffff;
    if (!(Number.isInteger(n) && n >= 0 && n <= inFlight)) {
      throw new VirtqueueError(
        "invalid-argument",
        `${this.name}: cannot discard ${n} chains, ${inFlight} in flight`,
      );
    }
    this._nextAvail = (this._nextAvail - n) & 0xffff;
  }

  /**
   * Flattens the chain at `head` into `chain`. Its totals live in locals and are stored once at the
   * end: per chain, not per descriptor. A chain that throws leaves `chain` holding no descriptors.
   */
  private walk(head: number): void {
    const view = this.view;
    const chain = this.chain;
    const size = this.size;
    chain.reset(head);
    if (head >= size) {
      throw new VirtqueueError(
        "head-out-of-range",
        `${this.name}: available head ${head} >= queue size ${size}`,
      );
    }
    const addrs = chain.addr;
    const lens = chain.len;
    const flagsOf = chain.flags;
    const capacity = chain.capacity;
    let count = 0;
    let readable = 0;
    let writable = 0;
    let firstWritable = -1;
    let misplacedReadable = -1;
    let inIndirect = false;
    let table = this.layout.desc;
    let tableSize = size;
    let steps = 0;
    let idx = head;
    for (;;) {
      // Visiting more descriptors than a table holds means one was visited twice.
      if (steps === tableSize) {
        throw new VirtqueueError(
          "descriptor-loop",
          `${this.name}: chain ${head} loops (${steps} descriptors visited in a table of ${tableSize}, ${this.where(inIndirect, table)})`,
        );
      }
      steps++;
      const off = table + DESC_SIZE * idx;
      // flags and next in one load; next counts only when NEXT is set.
      const flagsNext = readDescFlagsNext(view, off);
      const flags = flagsNext & 0xffff;
      const len = readU32(view, off + 8);
      if (flags & VRING_DESC_F_INDIRECT) {
        const addr = readU64(view, off);
        // The checks inline, the messages out of line: a call per chain would box `off`.
        if (
          !this.indirect ||
          inIndirect ||
          (flags & VRING_DESC_F_NEXT) !== 0 ||
          len === 0 ||
          len % DESC_SIZE !== 0 ||
          addr + len > this.memoryBytes
        )
          this.checkIndirect(head, idx, inIndirect, flags, off);
        table = addr;
        tableSize = len >>> 4; // len is a multiple of DESC_SIZE (checked above)
        steps = 0;
        idx = 0;
        inIndirect = true;
        continue;
      }
      // Only an indirect table can get here: the descriptor table alone stops at `size` (loop check).
      if (count === capacity) {
        throw new VirtqueueError(
          "chain-too-long",
          `${this.name}: chain ${head} has more than ${capacity} descriptors (${this.where(inIndirect, table)})`,
        );
      }
      addrs[count] = readU64(view, off);
      lens[count] = len;
      flagsOf[count] = flags;
      if (flags & VRING_DESC_F_WRITE) {
        if (firstWritable < 0) firstWritable = count;
        writable += len;
      } else {
        if (firstWritable >= 0 && misplacedReadable < 0) misplacedReadable = count;
        readable += len;
      }
      count++;
      if (readable + writable > MAX_CHAIN_BYTES) {
        throw new VirtqueueError("chain-too-long", `${this.name}: chain ${head} is longer than 2^32 bytes`);
      }
      if ((flags & VRING_DESC_F_NEXT) === 0) break;
      const next = flagsNext >>> 16;
      if (next >= tableSize) {
        throw new VirtqueueError(
          "next-out-of-range",
          `${this.name}: chain ${head}, descriptor ${idx} (${this.where(inIndirect, table)}): next ${next} >= table size ${tableSize}`,
        );
      }
      idx = next;
    }
    chain.count = count;
    chain.readableBytes = readable;
    chain.writableBytes = writable;
    chain.firstWritable = firstWritable;
    chain.misplacedReadable = misplacedReadable;
    chain.indirect = inIndirect;
  }

  /** Validates a descriptor that refers to an indirect table (spec "Indirect Descriptors"). */
  private checkIndirect(head: number, idx: number, inIndirect: boolean, flags: number, off: number): void {
    const at = `${this.name}: chain ${head}, descriptor ${idx}`;
    if (!this.indirect)
      throw new VirtqueueError("indirect-not-negotiated", `${at}: INDIRECT without the feature`);
    if (inIndirect) throw new VirtqueueError("nested-indirect", `${at}: INDIRECT inside an indirect table`);
    if (flags & VRING_DESC_F_NEXT)
      throw new VirtqueueError("indirect-with-next", `${at}: INDIRECT together with NEXT`);
    const len = readU32(this.view, off + 8);
    if (len === 0 || len % DESC_SIZE !== 0) {
      throw new VirtqueueError(
        "indirect-table-length",
        `${at}: indirect table length ${len} is not a positive multiple of 16`,
      );
    }
    const addr = readU64(this.view, off);
    if (addr + len > this.memoryBytes) {
      throw new VirtqueueError(
        "indirect-table-bounds",
        `${at}: indirect table [${addr}, ${addr + len}) runs past guest memory of ${this.memoryBytes} bytes`,
      );
    }
  }

  private where(inIndirect: boolean, table: number): string {
    return inIndirect ? `indirect table at ${table}` : "descriptor table";
  }

  /**
   * Writes used element {head, len} at next_used without publishing it (QEMU virtqueue_fill); publishUsed
   * makes a batch visible at once (virtqueue_flush).
   */
  addUsed(head: number, len: number): void {
    if (!(Number.isInteger(head) && head >= 0 && head < this.size)) {
      throw new VirtqueueError(
        "used-id-out-of-range",
        `${this.name}: addUsed head ${head} >= queue size ${this.size}`,
      );
    }
    if (this._nextUsed === this._nextAvail) {
      throw new VirtqueueError(
        "invalid-argument",
        `${this.name}: addUsed(${head}) with no popped chain outstanding`,
      );
    }
    const elem = this.layout.used + 4 + 8 * (this._nextUsed & this.mask);
    writeU32(this.view, elem, head);
    writeU32(this.view, elem + 4, len);
    this._nextUsed = (this._nextUsed + 1) & 0xffff;
  }

  /** Publishes used->idx = next_used (after the elements: the spec's "set len prior to updating idx"). */
  publishUsed(): void {
    writeU16(this.view, this.layout.used + 2, this._nextUsed);
    this.publishedUsed = this._nextUsed;
  }

  /**
   * Should the device interrupt the driver for what it published since the last call? vhost_notify:
   * without EVENT_IDX, unless the driver set VRING_AVAIL_F_NO_INTERRUPT; with it, if used_event lies
   * among the entries published since the previous call (vring_need_event), and always on the first
   * call (signalled_used_valid).
   */
  needsNotification(): boolean {
    if (!this.eventIdx) return (readU16(this.view, this.layout.avail) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
    const old = this.signalledUsed;
    const valid = this.signalledUsedValid;
    this.signalledUsed = this.publishedUsed;
    this.signalledUsedValid = true;
    if (!valid) return true;
    return vringNeedEvent(readU16(this.view, this.layout.usedEvent), this.publishedUsed, old);
  }

  /**
   * Asks for kicks again and returns true if entries arrived meanwhile (the caller must drain again
   * rather than sleep). With EVENT_IDX, avail_event = next_avail rather than the last avail->idx read,
   * so anything not yet popped still triggers a kick (rust-vmm set_notification).
   */
  enableNotification(): boolean {
    if (this.eventIdx) writeU16(this.view, this.layout.availEvent, this._nextAvail);
    else writeU16(this.view, this.layout.used, 0);
    return this.availableCount() !== 0;
  }

  /**
   * vhost_enable_notify (Linux 3.2 drivers/vhost/vhost.c): like enableNotification, but avail_event
   * is the avail->idx last read (vq->avail_idx) and only entries published since that read count
   * as new. Chains put back with discardChains because they were too few for a frame are therefore
   * not "slipped in": the device waits for the driver to add more, rather than retrying forever.
   */
  enableNotificationVhost(): boolean {
    if (this.eventIdx) writeU16(this.view, this.layout.availEvent, this.seenAvail);
    else writeU16(this.view, this.layout.used, 0);
    return readU16(this.view, this.layout.avail + 2) !== this.seenAvail;
  }

  /** Asks the driver not to kick: VRING_USED_F_NO_NOTIFY; with EVENT_IDX nothing (vhost_disable_notify). */
  disableNotification(): void {
    if (!this.eventIdx) writeU16(this.view, this.layout.used, VRING_USED_F_NO_NOTIFY);
  }

  /** Writes a u16 into guest memory if the address lies inside it (for late header patches). */
  writeGuestU16(addr: number, value: number): boolean {
    if (!(addr >= 0 && addr + 2 <= this.memoryBytes)) return false;
    writeU16(this.view, addr, value);
    return true;
  }
}
