/**
 * Network packets as indices into a struct-of-arrays pool (performance.md: "packets as indices").
 * Nothing is allocated per packet: alloc() pops a free slot, free() pushes it back, and the arrays
 * double when the pool runs out. Callers must not keep references to the arrays across alloc(),
 * because growing replaces them.
 *
 * A packet is one Ethernet frame of a TCP/IPv4 flow. With the timestamp option on (Linux's default,
 * net/ipv4/tcp_input.c sysctl_tcp_timestamps = 1) every segment carries
 *   14 B Ethernet + 20 B IPv4 + 20 B TCP + 12 B aligned timestamp option (TCPOLEN_TSTAMP_ALIGNED)
 * = 66 B of headers; a connection that did not negotiate it (either end's sysctl 0) carries 54 B.
 * Preamble, FCS and inter-frame gap are not counted: link rates are rates of frame bytes as a NIC
 * counts them.
 */

export const PKT_DATA = 0;
export const PKT_ACK = 1;

export const ETH_HLEN = 14;
/** sizeof(struct iphdr) and sizeof(struct tcphdr), without options. */
export const IPV4_HLEN = 20;
export const TCP_HLEN = 20;
/** 20 B IPv4 + 20 B TCP headers. */
export const TCPIP_HLEN = IPV4_HLEN + TCP_HLEN;
/**
 * The MSS a 1500-byte MTU (ETH_DATA_LEN) leaves: 1500 − 20 IPv4 − 20 TCP = 1460, the MSS option
 * both ends send and the route's dst_metric_advmss.
 */
export const MSS_ETH = 1500 - TCPIP_HLEN;
/** include/net/tcp.h TCPOLEN_TSTAMP_ALIGNED. */
export const TCPOLEN_TSTAMP_ALIGNED = 12;
/** Header bytes of every segment with timestamps: 14 + 40 + 12 = 66. */
export const HEADER_BYTES = ETH_HLEN + TCPIP_HLEN + TCPOLEN_TSTAMP_ALIGNED;
/** Header bytes of a segment of a connection without timestamps: 14 + 40 = 54. */
export const HEADER_BYTES_NO_TS = ETH_HLEN + TCPIP_HLEN;

/** Frame header bytes of a segment, with or without the timestamp option. */
export function headerBytes(timestamps: boolean): number {
  return timestamps ? HEADER_BYTES : HEADER_BYTES_NO_TS;
}
/** include/net/tcp.h TCPOLEN_SACK_BASE_ALIGNED and TCPOLEN_SACK_PERBLOCK. */
export const TCPOLEN_SACK_BASE_ALIGNED = 4;
export const TCPOLEN_SACK_PERBLOCK = 8;
/** include/linux/tcp.h TCP_NUM_SACKS: the receiver remembers up to 4 blocks. */
export const TCP_NUM_SACKS = 4;
/** include/net/tcp.h MAX_TCP_OPTION_SPACE. */
export const MAX_TCP_OPTION_SPACE = 40;
/**
 * SACK blocks an ACK carries (tcp_output.c tcp_established_options): (MAX_TCP_OPTION_SPACE − 12 − 4)
 * / 8 = 3 beside timestamps, (40 − 4) / 8 = 4 = TCP_NUM_SACKS without.
 */
export const MAX_SACK_BLOCKS_WITH_TS = 3;
export const MAX_SACK_BLOCKS_NO_TS = Math.min(
  TCP_NUM_SACKS,
  Math.floor((MAX_TCP_OPTION_SPACE - TCPOLEN_SACK_BASE_ALIGNED) / TCPOLEN_SACK_PERBLOCK),
);

/** Wire bytes of a pure ACK carrying `sacks` SACK blocks. */
export function ackWireBytes(sacks: number, timestamps = true): number {
  const h = headerBytes(timestamps);
  return sacks > 0 ? h + TCPOLEN_SACK_BASE_ALIGNED + sacks * TCPOLEN_SACK_PERBLOCK : h;
}

export class PacketPoolError extends Error {
  override name = "PacketPoolError";
}

export class PacketPool {
  private cap: number;
  /** PKT_DATA or PKT_ACK. */
  kind: Uint8Array;
  flow: Int32Array;
  /** First payload byte's sequence number (bytes from the start of the flow; no 32-bit wrap). */
  seq: Float64Array;
  /** Payload bytes (0 for ACKs and zero-window probes). */
  len: Int32Array;
  /** Frame bytes on the wire: payload + headers. */
  wireLen: Int32Array;
  /**
   * gso_size of a TSO/GSO frame (virtio_net_hdr.gso_size, gso_type VIRTIO_NET_HDR_GSO_TCPV4): the
   * MSS its payload is cut into; 0 for an ordinary frame (VIRTIO_NET_HDR_GSO_NONE).
   */
  gsoSize: Int32Array;
  /** Cumulative acknowledgement (next byte expected), for ACKs. */
  ack: Float64Array;
  /** Advertised receive window in bytes, already multiplied by the window scale. */
  wnd: Float64Array;
  sackCount: Uint8Array;
  /** [start, end) byte ranges, TCP_NUM_SACKS slots per packet, most recent first. */
  sackStart: Float64Array;
  sackEnd: Float64Array;
  /** TSval: the sender's jiffies at transmission (tcp_time_stamp). */
  tsVal: Float64Array;
  /** TSecr: the peer's echoed TSval. */
  tsEcr: Float64Array;
  private inUse: Uint8Array;
  private freeList: Int32Array;
  private freeTop = 0;
  /** Packets currently allocated. */
  live = 0;
  /** Packets ever allocated. */
  allocations = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.cap = 0;
    this.kind = new Uint8Array(0);
    this.flow = new Int32Array(0);
    this.seq = new Float64Array(0);
    this.len = new Int32Array(0);
    this.wireLen = new Int32Array(0);
    this.gsoSize = new Int32Array(0);
    this.ack = new Float64Array(0);
    this.wnd = new Float64Array(0);
    this.sackCount = new Uint8Array(0);
    this.sackStart = new Float64Array(0);
    this.sackEnd = new Float64Array(0);
    this.tsVal = new Float64Array(0);
    this.tsEcr = new Float64Array(0);
    this.inUse = new Uint8Array(0);
    this.freeList = new Int32Array(0);
    this.grow(cap);
  }

  get capacity(): number {
    return this.cap;
  }

  /** Takes a slot; every field is reset to zero. */
  alloc(): number {
    if (this.freeTop === 0) this.grow(this.cap * 2);
    const p = this.freeList[--this.freeTop]!;
    this.inUse[p] = 1;
    this.kind[p] = PKT_DATA;
    this.flow[p] = 0;
    this.seq[p] = 0;
    this.len[p] = 0;
    this.wireLen[p] = 0;
    this.gsoSize[p] = 0;
    this.ack[p] = 0;
    this.wnd[p] = 0;
    this.sackCount[p] = 0;
    this.tsVal[p] = 0;
    this.tsEcr[p] = 0;
    this.live++;
    this.allocations++;
    return p;
  }

  free(p: number): void {
    if (!(p >= 0 && p < this.cap) || this.inUse[p] !== 1) {
      throw new PacketPoolError(`free of packet ${p}, which is not allocated`);
    }
    this.inUse[p] = 0;
    this.freeList[this.freeTop++] = p;
    this.live--;
  }

  isLive(p: number): boolean {
    return p >= 0 && p < this.cap && this.inUse[p] === 1;
  }

  /** Sets SACK block `i` (0-based) of packet p. */
  setSack(p: number, i: number, start: number, end: number): void {
    this.sackStart[p * TCP_NUM_SACKS + i] = start;
    this.sackEnd[p * TCP_NUM_SACKS + i] = end;
  }

  private grow(n: number): void {
    const old = this.cap;
    const f64 = (a: Float64Array, k: number) => {
      const b = new Float64Array(n * k);
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    const u8 = (a: Uint8Array) => {
      const b = new Uint8Array(n);
      b.set(a);
      return b;
    };
    this.kind = u8(this.kind);
    this.flow = i32(this.flow);
    this.seq = f64(this.seq, 1);
    this.len = i32(this.len);
    this.wireLen = i32(this.wireLen);
    this.gsoSize = i32(this.gsoSize);
    this.ack = f64(this.ack, 1);
    this.wnd = f64(this.wnd, 1);
    this.sackCount = u8(this.sackCount);
    this.sackStart = f64(this.sackStart, TCP_NUM_SACKS);
    this.sackEnd = f64(this.sackEnd, TCP_NUM_SACKS);
    this.tsVal = f64(this.tsVal, 1);
    this.tsEcr = f64(this.tsEcr, 1);
    this.inUse = u8(this.inUse);
    const fl = new Int32Array(n);
    fl.set(this.freeList.subarray(0, this.freeTop));
    // Lowest indices on top, so a fresh pool hands out 0, 1, 2, …
    for (let i = n - 1; i >= old; i--) fl[this.freeTop++] = i;
    this.freeList = fl;
    this.cap = n;
  }
}
