/**
 * Driver (guest) side of a split virtqueue, shaped like Linux v3.2 drivers/virtio/virtio_ring.c
 * (struct vring_virtqueue and the virtqueue_* calls). The canonical cycle, as virtio_net's
 * try_fill_recv and virtnet_poll run it:
 *
 * ```ts
 * const layout = vringLayout(256);                      // legacy virtio-pci layout at offset 0
 * const memory = new ArrayBuffer(layout.bytes + indirectPoolBytes(256, 2));
 * const pool = new IndirectPool(memory.byteLength, layout.bytes, 256, 2);
 * const vq = new VirtqueueDriver(memory, layout, { indirect: true, eventIdx: true, allocator: pool });
 * const sg = new Scatterlist(2);
 * // try_fill_recv: post buffers until the ring reports no capacity, then kick once.
 * let err: number;
 * do {
 *   sg.set(0, hdrAddr, 10);                             // virtio_net_hdr
 *   sg.set(1, dataAddr, 1518);                          // MAX_PACKET_LEN
 *   err = vq.addBuf(0, 2, sg, token);                   // >= 0: num_free left; -ENOSPC: no room
 * } while (err > 0);
 * if (vq.kick()) { }                                    // true: notify the device (a VM exit)
 * // skb_recv_done + virtnet_poll: take used buffers, then re-enable callbacks and recheck.
 * vq.disableCb();
 * for (let t = vq.getBuf(); t >= 0; t = vq.getBuf()) { }  // receive_buf(t, vq.lastLen)
 * if (!vq.enableCb()) { }                               // more arrived meanwhile: poll again
 * ```
 *
 * Buffer addresses in descriptors are opaque guest-physical addresses: the model never materialises
 * packet payload bytes. Only the ring itself and indirect descriptor tables are real bytes in guest
 * memory, because the device side reads them.
 *
 * Hardening (Linux 5.x+, not v3.2): the ring is device-writable memory, so the driver keeps its own
 * record of every posted chain — desc_extra[].next/.flags, desc_state[].indir_desc and the buffer's
 * device-writable length — and detach and the free list use only that record, never what the ring
 * says. v3.2 followed desc[].next in guest memory, so a device that pointed a chain back at its head
 * made detach_buf loop forever. Likewise avail->idx and avail->flags come from the driver's shadows
 * (Linux 4.4), never read back. What the driver posts and the order it reuses descriptors in are
 * v3.2's, so the device sees the same ring. A used entry that names an id out of range, a descriptor
 * that is not an outstanding head, or a length beyond the buffer's writable bytes marks the queue
 * broken (BAD_RING sets vq->broken): that call and every later one on the queue throw the same
 * VirtqueueError, where Linux returns NULL or -EIO and the device is reset.
 */
import { VirtqueueError, type VirtqueueErrorKind } from "./errors.ts";
import type { IndirectTableAllocator } from "./indirect.ts";
import {
  checkLayoutFits,
  DESC_SIZE,
  descOffset,
  readU16,
  readU32,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_USED_F_NO_NOTIFY,
  type VringLayout,
  vringNeedEvent,
  writeDescFlagsNext,
  writeU16,
  writeU32,
  writeU64,
} from "./layout.ts";

/** errno values returned negated, as virtqueue_add_buf does (include/asm-generic/errno-base.h). */
export const ENOSPC = 28;
export const ENOMEM = 12;

/**
 * A reusable scatter-gather list (struct scatterlist[]): entry i is (addr[i], len[i]). Callers fill
 * it before each addBuf instead of building a new array per buffer.
 */
export class Scatterlist {
  readonly capacity: number;
  readonly addr: Float64Array;
  readonly len: Uint32Array;

  constructor(capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) {
      throw new VirtqueueError("invalid-argument", `scatterlist capacity must be >= 1, got ${capacity}`);
    }
    this.capacity = capacity;
    this.addr = new Float64Array(capacity);
    this.len = new Uint32Array(capacity);
  }

  set(i: number, addr: number, len: number): void {
    this.addr[i] = addr;
    this.len[i] = len;
  }
}

export interface VirtqueueDriverOptions {
  /** vq->name, used in error messages. */
  name?: string;
  /** VIRTIO_RING_F_INDIRECT_DESC negotiated (vq->indirect). Needs an allocator. */
  indirect?: boolean;
  /** VIRTIO_RING_F_EVENT_IDX negotiated (vq->event). */
  eventIdx?: boolean;
  /** Source of indirect tables (vring_add_indirect's kmalloc). */
  allocator?: IndirectTableAllocator;
  /**
   * Publish avail->idx with every buffer, as 6.1's virtqueue_add_split does (`avail_idx_shadow++;
   * avail->idx = avail_idx_shadow`), instead of at kick as v3.2's virtqueue_kick does; kick() then
   * only decides the notification, as virtqueue_kick_prepare. Default false (v3.2).
   */
  availPerAdd?: boolean;
  /** False models a queue without a callback: vring_new_virtqueue then sets NO_INTERRUPT. */
  hasCallback?: boolean;
  /**
   * Start avail->idx, used->idx, used_event, avail_event and last_used_idx here instead of 0, as if the
   * ring had already carried that many buffers (tests use it to cross the u16 wrap quickly). The device
   * must be built with the same value.
   */
  initialIndex?: number;
}

const NO_TOKEN = -1;
const NO_OWNER = -1;
/** desc_state[].indir_desc of a direct chain. */
const NO_TABLE = -1;

export class VirtqueueDriver {
  readonly name: string;
  readonly layout: VringLayout;
  readonly size: number;
  /** Host supports indirect buffers (vq->indirect). */
  readonly indirect: boolean;
  /** Host publishes avail event idx (vq->event). */
  readonly eventIdx: boolean;
  /** avail->idx published per added buffer (6.1) rather than at kick (v3.2). */
  readonly availPerAdd: boolean;
  /** Written length of the buffer the last successful getBuf returned (virtqueue_get_buf's *len). */
  lastLen = 0;
  /**
   * Head descriptor index of that buffer (the used element's id). Linux keeps it private; the model
   * exposes it so side tables indexed by head (the packet a device put there) can be looked up.
   */
  lastId = -1;
  /** kick() calls. */
  kicks = 0;
  /** kick() calls that decided to notify the device. */
  notifications = 0;
  /** Indirect tables that could not be allocated, so the buffer went in as direct descriptors. */
  indirectAllocFailures = 0;
  /**
   * -ENOSPC returns for buffers with out > 0: Linux v3.2 calls vq->notify there ("for historical
   * reasons, we force a notify"); the caller that owns the notify path delivers it.
   */
  enospcNotifies = 0;
  /** Calls refused because the queue is broken (after the one that broke it). */
  brokenCalls = 0;

  private readonly view: DataView;
  private readonly memoryBytes: number;
  private readonly allocator: IndirectTableAllocator | null;
  private readonly mask: number;
  /** Tokens for callbacks, per head descriptor (desc_state[].data); NO_TOKEN: not a head. */
  private readonly data: Int32Array;
  /** desc_extra[].next: the chain and free-list links as the driver wrote them. */
  private readonly extraNext: Uint16Array;
  /** desc_extra[].flags: the flags as the driver wrote them. */
  private readonly extraFlags: Uint16Array;
  /** desc_state[].indir_desc: guest offset of the head's indirect table, or NO_TABLE. */
  private readonly indirDesc: Float64Array;
  /**
   * Device-writable bytes of the buffer at each head (desc_state[].buflen of Linux 5.16-rc1's "virtio_ring:
   * validate used buffer length"; 0 for a buffer with nothing device-writable).
   */
  private readonly bufLen: Float64Array;
  /** Number of free descriptors. */
  private _numFree: number;
  /** Head of free descriptor list (linked through desc_extra[].next, as Linux 5.x+ does). */
  private freeHead = 0;
  /** vq->broken: the error that broke the queue, or null. */
  private _broken: VirtqueueError | null = null;
  /** Number we've added since last kick. */
  private _numAdded = 0;
  /** Last used index we've seen. */
  private _lastUsedIdx: number;
  /**
   * avail->idx and avail->flags as the driver last wrote them (avail_idx_shadow, avail_flags_shadow of
   * Linux 4.4's "virtio_ring: shadow available ring flags & index"): the driver is their only writer,
   * so it need not read them back from guest memory, and a device that scribbles on them cannot steer it.
   */
  private availIdxShadow = 0;
  private availFlagsShadow = 0;
  /** Owner currently inside (beginAccess), or NO_OWNER. */
  private accessOwner = NO_OWNER;

  constructor(memory: ArrayBuffer, layout: VringLayout, options: VirtqueueDriverOptions = {}) {
    checkLayoutFits(layout, memory.byteLength);
    this.name = options.name ?? "vq";
    this.layout = layout;
    this.size = layout.size;
    this.mask = layout.size - 1;
    this.indirect = options.indirect ?? false;
    this.eventIdx = options.eventIdx ?? false;
    this.availPerAdd = options.availPerAdd ?? false;
    this.allocator = options.allocator ?? null;
    if (this.indirect && this.allocator === null) {
      throw new VirtqueueError("invalid-argument", `${this.name}: indirect descriptors need an allocator`);
    }
    this.view = new DataView(memory);
    this.memoryBytes = memory.byteLength;
    this.data = new Int32Array(layout.size).fill(NO_TOKEN);
    this.extraNext = new Uint16Array(layout.size);
    this.extraFlags = new Uint16Array(layout.size);
    this.indirDesc = new Float64Array(layout.size).fill(NO_TABLE);
    this.bufLen = new Float64Array(layout.size);

    // virtio_pci setup_vq allocates the ring with __GFP_ZERO.
    new Uint8Array(memory, layout.base, layout.bytes).fill(0);
    const start = options.initialIndex ?? 0;
    if (!(Number.isInteger(start) && start >= 0 && start <= 0xffff)) {
      throw new VirtqueueError("invalid-argument", `${this.name}: initialIndex ${start} is not a u16`);
    }
    this.writeAvailIdx(start);
    writeU16(this.view, layout.used + 2, start);
    writeU16(this.view, layout.usedEvent, start);
    writeU16(this.view, layout.availEvent, start);
    this._lastUsedIdx = start;

    // vring_new_virtqueue: "No callback? Tell other side not to bother us."
    if (options.hasCallback === false) this.writeAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);
    // "Put everything in free lists." v3.2 links them through desc[].next in the ring; the copy in
    // desc_extra (vring_alloc_desc_extra) is the one the driver follows.
    this._numFree = layout.size;
    for (let i = 0; i < layout.size - 1; i++) {
      this.extraNext[i] = i + 1;
      writeU16(this.view, descOffset(layout.desc, i) + 14, i + 1);
    }
  }

  /** vq->broken: the VirtqueueError that broke this queue, or null while it is healthy. */
  get broken(): VirtqueueError | null {
    return this._broken;
  }

  /** Free descriptors (vq->num_free): what addBuf returns on success. */
  get numFree(): number {
    return this._numFree;
  }

  /** Buffers added since the last kick (vq->num_added); with v3.2's ring not yet visible to the device. */
  get numAdded(): number {
    return this._numAdded;
  }

  /** vq->last_used_idx. */
  get lastUsedIdx(): number {
    return this._lastUsedIdx;
  }

  /** avail->idx as published to the device. */
  get availIdx(): number {
    return readU16(this.view, this.layout.avail + 2);
  }

  /**
   * virtqueue_add_buf_gfp (v3.2 line 163): expose `out` device-readable then `inCount` device-writable
   * sg entries as one buffer identified by `token`. Returns the remaining num_free (>= 0) or -ENOSPC.
   * The head goes into the available ring; with v3.2's ring avail->idx is not advanced, so the
   * device sees the buffer only after kick(); with availPerAdd (6.1) it is, so a device that looks
   * sees it at once.
   */
  addBuf(out: number, inCount: number, sg: Scatterlist, token: number): number {
    if (this._broken !== null) this.refuse();
    const total = out + inCount;
    // BUG_ON(data == NULL) and BUG_ON(out + in == 0) in Linux.
    if (!(Number.isInteger(token) && token >= 0 && token <= 0x7fffffff)) {
      throw new VirtqueueError(
        "invalid-argument",
        `${this.name}: token ${token} is not a non-negative int32`,
      );
    }
    if (!(Number.isInteger(out) && Number.isInteger(inCount) && out >= 0 && inCount >= 0 && total >= 1)) {
      throw new VirtqueueError("invalid-argument", `${this.name}: bad sg counts out=${out} in=${inCount}`);
    }
    if (total > sg.capacity) {
      throw new VirtqueueError(
        "invalid-argument",
        `${this.name}: out+in=${total} exceeds scatterlist capacity ${sg.capacity}`,
      );
    }

    let head = -1;
    // "If the host supports indirect descriptor tables, and we have multiple buffers, then go
    // indirect." A failed table allocation falls through to the direct path without reporting OOM.
    if (this.indirect && total > 1 && this._numFree > 0) {
      head = this.addIndirect(out, total, sg);
      if (head < 0) this.indirectAllocFailures++;
    }
    if (head < 0) {
      if (total > this.size) {
        throw new VirtqueueError(
          "invalid-argument",
          `${this.name}: out+in=${total} exceeds queue size ${this.size} (BUG_ON in virtqueue_add_buf_gfp)`,
        );
      }
      if (this._numFree < total) {
        if (out > 0) this.enospcNotifies++;
        return -ENOSPC;
      }
      head = this.addDirect(out, total, sg);
    }

    this.data[head] = token;
    // "Put entry in available array (but don't update avail->idx until they do sync)."
    const avail = this.layout.avail;
    const idx = this.availIdxShadow;
    if (this.availPerAdd) {
      // 6.1: "Descriptors and available array need to be set before we expose the new available
      // array entries", then avail->idx = ++avail_idx_shadow.
      writeU16(this.view, avail + 4 + 2 * (idx & this.mask), head);
      this.writeAvailIdx((idx + 1) & 0xffff);
    } else {
      writeU16(this.view, avail + 4 + 2 * ((idx + this._numAdded) & this.mask), head);
    }
    this._numAdded++;
    return this._numFree;
  }

  private addDirect(out: number, total: number, sg: Scatterlist): number {
    const view = this.view;
    const table = this.layout.desc;
    this._numFree -= total;
    const head = this.freeHead;
    const extraNext = this.extraNext;
    const extraFlags = this.extraFlags;
    let i = head;
    let prev = head;
    let writable = 0;
    for (let k = 0; k < total; k++) {
      const off = descOffset(table, i);
      const flags = k < out ? VRING_DESC_F_NEXT : VRING_DESC_F_NEXT | VRING_DESC_F_WRITE;
      const len = sg.len[k]!;
      if (k >= out) writable += len;
      writeU64(view, off, sg.addr[k]!);
      writeU32(view, off + 8, len);
      writeDescFlagsNext(view, off, flags, extraNext[i]!);
      extraFlags[i] = flags;
      prev = i;
      i = extraNext[i]!;
    }
    // "Last one doesn't continue."
    extraFlags[prev] = extraFlags[prev]! & ~VRING_DESC_F_NEXT;
    writeU16(view, descOffset(table, prev) + 12, extraFlags[prev]!);
    this.freeHead = i;
    this.bufLen[head] = writable;
    return head;
  }

  /** vring_add_indirect (v3.2 line 114): one ring descriptor pointing at a table in guest memory. */
  private addIndirect(out: number, total: number, sg: Scatterlist): number {
    const table = this.allocator!.alloc(total);
    if (table < 0) return -1;
    if (!(Number.isSafeInteger(table) && table + total * DESC_SIZE <= this.memoryBytes)) {
      throw new VirtqueueError(
        "invalid-argument",
        `${this.name}: allocator returned table offset ${table} for ${total} entries outside guest memory`,
      );
    }
    const view = this.view;
    const addr = sg.addr;
    const lens = sg.len;
    // Entry k links to k + 1 until the last; the device-writable ones follow the readable ones.
    let writable = 0;
    let off = table;
    for (let k = 0; k < total; k++, off += DESC_SIZE) {
      const len = lens[k]!;
      writeU64(view, off, addr[k]!);
      writeU32(view, off + 8, len);
      let flags = 0;
      if (k >= out) {
        writable += len;
        flags = VRING_DESC_F_WRITE;
      }
      const more = k + 1 < total;
      writeDescFlagsNext(view, off, more ? flags | VRING_DESC_F_NEXT : flags, more ? k + 1 : 0);
    }
    this._numFree--;
    const head = this.freeHead;
    const desc = descOffset(this.layout.desc, head);
    writeU64(view, desc, table);
    writeU32(view, desc + 8, total * DESC_SIZE);
    writeDescFlagsNext(view, desc, VRING_DESC_F_INDIRECT, this.extraNext[head]!);
    this.extraFlags[head] = VRING_DESC_F_INDIRECT;
    this.indirDesc[head] = table;
    this.freeHead = this.extraNext[head]!;
    this.bufLen[head] = writable;
    return head;
  }

  /**
   * virtqueue_kick (v3.2 line 241): publish avail->idx = old + num_added, then decide whether the device
   * wants a notification: with EVENT_IDX vring_need_event(avail_event, new, old), otherwise unless the
   * device set VRING_USED_F_NO_NOTIFY. Returns true when the caller must notify (vq->notify). With
   * availPerAdd it is 6.1's virtqueue_kick_prepare_split: avail->idx is already published, so
   * old = avail_idx_shadow - num_added and new = avail_idx_shadow.
   */
  kick(): boolean {
    if (this._broken !== null) this.refuse();
    const view = this.view;
    const layout = this.layout;
    const cur = this.availIdxShadow;
    const old = this.availPerAdd ? (cur - this._numAdded) & 0xffff : cur;
    const next = (old + this._numAdded) & 0xffff;
    if (!this.availPerAdd) this.writeAvailIdx(next);
    this._numAdded = 0;
    const notify = this.eventIdx
      ? vringNeedEvent(readU16(view, layout.availEvent), next, old)
      : (readU16(view, layout.used) & VRING_USED_F_NO_NOTIFY) === 0;
    this.kicks++;
    if (notify) this.notifications++;
    return notify;
  }

  /** more_used: the device has published used entries we have not taken. */
  moreUsed(): boolean {
    if (this._broken !== null) this.refuse();
    return this._lastUsedIdx !== readU16(this.view, this.layout.used + 2);
  }

  /**
   * virtqueue_get_buf (v3.2 line 297): the token of the next used buffer (its written length in
   * lastLen), or -1 when there is none. Returns the chain's descriptors to the free list and, while
   * callbacks are enabled, writes used_event = last_used_idx so EVENT_IDX interrupts stay armed.
   * A used entry Linux 5.x+ calls BAD_RING on breaks the queue (see the file comment).
   */
  getBuf(): number {
    if (this._broken !== null) this.refuse();
    const view = this.view;
    const layout = this.layout;
    if (this._lastUsedIdx === readU16(view, layout.used + 2)) return -1;
    const elem = layout.used + 4 + 8 * (this._lastUsedIdx & this.mask);
    const id = readU32(view, elem);
    const len = readU32(view, elem + 4);
    // virtqueue_get_buf_ctx_split: BAD_RING(vq, "id %u out of range\n", i).
    if (id >= this.size) {
      this.breakRing(
        "used-id-out-of-range",
        `used ring entry ${this._lastUsedIdx} has id ${id} >= queue size ${this.size}`,
      );
    }
    const token = this.data[id]!;
    // virtqueue_get_buf_ctx_split: BAD_RING(vq, "id %u is not a head!\n", i).
    if (token === NO_TOKEN) {
      this.breakRing(
        "used-id-not-head",
        `used ring entry ${this._lastUsedIdx} has id ${id}, which is not an outstanding head`,
      );
    }
    // Linux 5.16-rc1 (939779f5152d): BAD_RING(vq, "used len %d is larger than in buflen %u\n"). It was
    // reverted before 5.16 because legacy devices report a length for buffers with nothing writable
    // (buflen 0); the check here skips those buffers, which is the narrowing its thread proposed.
    const buflen = this.bufLen[id]!;
    if (buflen > 0 && len > buflen) {
      this.breakRing(
        "used-len-too-long",
        `used ring entry ${this._lastUsedIdx} (id ${id}) has len ${len} > the buffer's ${buflen} writable bytes`,
      );
    }
    this.detachBuf(id);
    this._lastUsedIdx = (this._lastUsedIdx + 1) & 0xffff;
    this.lastLen = len;
    this.lastId = id;
    if ((this.availFlagsShadow & VRING_AVAIL_F_NO_INTERRUPT) === 0) {
      writeU16(view, layout.usedEvent, this._lastUsedIdx);
    }
    return token;
  }

  /**
   * detach_buf_split: free the indirect table, put the chain back on the free list, following only
   * the driver's record of it (desc_extra[].flags/.next, desc_state[].indir_desc). Linux up to 6.12
   * still tested VRING_DESC_F_NEXT in the ring here; with desc_extra[].next that walk can circle the
   * free list forever when a device sets NEXT everywhere, so this tests desc_extra[].flags, the fix
   * discussed on the virtualization list in November 2024.
   */
  private detachBuf(head: number): void {
    const extraNext = this.extraNext;
    const extraFlags = this.extraFlags;
    this.data[head] = NO_TOKEN;
    const table = this.indirDesc[head]!;
    if (table !== NO_TABLE) {
      this.indirDesc[head] = NO_TABLE;
      this.allocator!.free(table);
    }
    let i = head;
    while (extraFlags[i]! & VRING_DESC_F_NEXT) {
      i = extraNext[i]!;
      this._numFree++;
      // Only a bug in this class can make its own record circular: fail loudly instead of spinning.
      if (this._numFree > this.size) throw new Error(`${this.name}: desc_extra chain at ${head} is circular`);
    }
    extraNext[i] = this.freeHead;
    // The ring's copy of the free-list link, as v3.2 leaves it.
    writeU16(this.view, descOffset(this.layout.desc, i) + 14, this.freeHead);
    this.freeHead = head;
    // "Plus final descriptor."
    this._numFree++;
  }

  /** BAD_RING: mark the queue broken and throw the error every later call throws too. */
  private breakRing(kind: VirtqueueErrorKind, message: string): never {
    this._broken = new VirtqueueError(kind, `${this.name}: ${message}; the queue is broken`);
    throw this._broken;
  }

  /** A call on a broken queue: Linux returns NULL or -EIO; the model throws the breaking error again. */
  private refuse(): never {
    this.brokenCalls++;
    throw this._broken!;
  }

  /** avail->idx = idx, kept in the shadow too. */
  private writeAvailIdx(idx: number): void {
    this.availIdxShadow = idx;
    writeU16(this.view, this.layout.avail + 2, idx);
  }

  /** avail->flags = flags, kept in the shadow too. */
  private writeAvailFlags(flags: number): void {
    this.availFlagsShadow = flags;
    writeU16(this.view, this.layout.avail, flags);
  }

  /** virtqueue_disable_cb (v3.2 line 348): set NO_INTERRUPT; used_event is left alone. */
  disableCb(): void {
    this.writeAvailFlags(this.availFlagsShadow | VRING_AVAIL_F_NO_INTERRUPT);
  }

  /**
   * virtqueue_enable_cb (v3.2 line 356): clear NO_INTERRUPT and point used_event at the next entry (both,
   * whichever EVENT_IDX says the device reads), then return false if used buffers are already pending,
   * so the caller polls again instead of waiting for an interrupt that may never come.
   */
  enableCb(): boolean {
    if (this._broken !== null) this.refuse();
    const view = this.view;
    const layout = this.layout;
    this.writeAvailFlags(this.availFlagsShadow & ~VRING_AVAIL_F_NO_INTERRUPT);
    writeU16(view, layout.usedEvent, this._lastUsedIdx);
    return !this.moreUsed();
  }

  /**
   * virtqueue_enable_cb_delayed (v3.2 line 380, tx path): as enableCb, but ask for the interrupt only
   * after 3/4 of the outstanding buffers have been used.
   */
  enableCbDelayed(): boolean {
    if (this._broken !== null) this.refuse();
    const view = this.view;
    const layout = this.layout;
    this.writeAvailFlags(this.availFlagsShadow & ~VRING_AVAIL_F_NO_INTERRUPT);
    const bufs = Math.floor((((this.availIdxShadow - this._lastUsedIdx) & 0xffff) * 3) / 4);
    writeU16(view, layout.usedEvent, (this._lastUsedIdx + bufs) & 0xffff);
    return ((readU16(view, layout.used + 2) - this._lastUsedIdx) & 0xffff) <= bufs;
  }

  /**
   * virtqueue_detach_unused_buf: after the device was reset, hand back one outstanding buffer's token
   * (lowest head first) and step avail->idx back, or -1 when none is left. Linux v3.2 decrements
   * avail->idx even for buffers the device had already used; that is reproduced as is. It works on a
   * broken queue too: it reads only the driver's record, and reset-then-detach is how Linux recovers.
   */
  detachUnusedBuf(): number {
    for (let i = 0; i < this.size; i++) {
      const token = this.data[i]!;
      if (token === NO_TOKEN) continue;
      this.detachBuf(i);
      this.writeAvailIdx((this.availIdxShadow - 1) & 0xffff);
      return token;
    }
    // "That should have freed everything." (BUG_ON)
    if (this._numFree !== this.size) {
      throw new VirtqueueError(
        "invalid-argument",
        `${this.name}: no buffers left to detach but num_free is ${this._numFree} of ${this.size}`,
      );
    }
    return -1;
  }

  /**
   * Marks `owner` (a non-negative id, e.g. a CPU or context number) as inside this queue. Linux's
   * callers must serialise virtqueue calls themselves; its DEBUG build catches violations with
   * START_USE/END_USE, and this is the same check.
   */
  beginAccess(owner: number): void {
    if (this.accessOwner !== NO_OWNER) {
      throw new VirtqueueError(
        "concurrent-access",
        `${this.name}: owner ${owner} entered while owner ${this.accessOwner} is inside`,
      );
    }
    if (owner < 0) throw new VirtqueueError("invalid-argument", `${this.name}: access owner ${owner} < 0`);
    this.accessOwner = owner;
  }

  endAccess(owner: number): void {
    if (this.accessOwner !== owner) {
      throw new VirtqueueError(
        "concurrent-access",
        `${this.name}: owner ${owner} left but the owner inside is ${this.accessOwner === NO_OWNER ? "none" : this.accessOwner}`,
      );
    }
    this.accessOwner = NO_OWNER;
  }
}
