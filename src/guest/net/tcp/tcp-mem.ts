/**
 * TCP's global memory accounting, after Linux 3.2: sysctl_tcp_mem (net/ipv4/tcp.c tcp_init),
 * tcp_memory_allocated and tcp_memory_pressure (shared by every TCP socket of the guest), and the
 * per-socket forward allocation of net/core/sock.c (__sk_mem_schedule, __sk_mem_reclaim) and
 * include/net/sock.h (sk_rmem_schedule, sk_mem_reclaim). Sockets reserve whole pages
 * (SK_MEM_QUANTUM) ahead of the skbs they queue; the reservation is the socket's share of
 * tcp_memory_allocated, and what the queued skbs do not use is sk_forward_alloc.
 */

/** SK_MEM_QUANTUM = PAGE_SIZE (include/net/sock.h). */
export const SK_MEM_QUANTUM = 4096;

/**
 * tcp_init (net/ipv4/tcp.c, 3.2): limit = max(nr_free_buffer_pages() / 8, 128);
 * tcp_mem = {limit / 4 * 3, limit, tcp_mem[0] * 2}, in pages. 6.1's tcp_init_mem divides by 16
 * (`divisor`, kernel-era.ts).
 */
export function tcpMemDefaults(nrFreeBufferPages: number, divisor = 8): [number, number, number] {
  const limit = Math.max(Math.floor(nrFreeBufferPages / divisor), 128);
  const low = Math.floor(limit / 4) * 3;
  return [low, limit, low * 2];
}

/**
 * nr_free_buffer_pages (mm/page_alloc.c nr_free_zone_pages): present pages above the high watermark
 * of the zones GFP_USER may use. The model's one zone holds every page (the kernel's present_pages
 * also leaves out the memmap, about 1.5 %, and splits off ZONE_DMA; not modelled).
 */
export function nrFreeBufferPages(presentPages: number, highWmark: number): number {
  return presentPages > highWmark ? presentPages - highWmark : 0;
}

/** The state tcp_prot points at: sysctl_mem, memory_allocated, memory_pressure, sockets_allocated. */
export class TcpMem {
  /** sysctl_tcp_mem, pages: below [0] no pressure, above [1] pressure, above [2] no allocation. */
  readonly mem: readonly [number, number, number];
  /** sysctl_tcp_rmem[0]: receive memory each socket is granted even under pressure. */
  readonly rmemMin: number;
  /** tcp_memory_allocated, pages. */
  allocated = 0;
  /** tcp_memory_pressure */
  pressure = false;
  /** sockets_allocated */
  sockets = 0;
  /** TcpExt TCPMemoryPressures: times tcp_enter_memory_pressure set the flag. */
  memoryPressures = 0;
  /** The most tcp_memory_allocated reached, pages. */
  maxAllocated = 0;

  constructor(mem: readonly [number, number, number], rmemMin = SK_MEM_QUANTUM) {
    if (!(mem[0] <= mem[1] && mem[1] <= mem[2]))
      throw new Error(`tcp_mem must be ascending, got ${mem.join(" ")}`);
    this.mem = mem;
    this.rmemMin = rmemMin;
  }

  /** tcp_enter_memory_pressure */
  enterMemoryPressure(): void {
    if (!this.pressure) {
      this.memoryPressures++;
      this.pressure = true;
    }
  }

  /**
   * __sk_mem_schedule(sk, size, SK_MEM_RECV) for a socket with `rmemAlloc` queued and `forwardAlloc`
   * spare: the pages the socket may add to its reservation, or 0 when the allocation is suppressed
   * (then nothing was charged).
   */
  schedule(size: number, rmemAlloc: number, forwardAlloc: number): number {
    const amt = Math.ceil(size / SK_MEM_QUANTUM);
    const allocated = this.allocated + amt;
    this.allocated = allocated;
    if (allocated > this.maxAllocated) this.maxAllocated = allocated;
    // "Under limit."
    if (allocated <= this.mem[0]) {
      this.pressure = false;
      return amt;
    }
    // "Under pressure."
    if (allocated > this.mem[1]) this.enterMemoryPressure();
    // "Over hard limit."
    if (allocated <= this.mem[2]) {
      // "guarantee minimum buffer size under pressure"
      if (rmemAlloc < this.rmemMin) return amt;
      if (!this.pressure) return amt;
      const mine = Math.ceil((rmemAlloc + forwardAlloc + amt * SK_MEM_QUANTUM) / SK_MEM_QUANTUM);
      if (this.mem[2] > this.sockets * mine) return amt;
    }
    // "Alas. Undo changes."
    this.allocated -= amt;
    return 0;
  }

  /** __sk_mem_reclaim: a socket returns `pages` of its reservation; pressure ends below tcp_mem[0]. */
  reclaim(pages: number): void {
    this.allocated -= pages;
    if (this.pressure && this.allocated < this.mem[0]) this.pressure = false;
  }
}
