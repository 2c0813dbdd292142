/**
 * The guest kernel era: the rules that differ between the Linux 3.2 the seed ran on and the 6.1
 * `mainline` is compared against, as one small parameter object read by mm and TCP. The scenario
 * names the era (guest.kernel); nothing else tests the era's name.
 *
 * Sources: Linux 3.2 as cited beside the 3.2 code; Linux 6.1.y (unifreq/linux-6.1.y, SUBLEVEL 166)
 * mm/page_alloc.c, mm/vmscan.c, mm/oom_kill.c, net/ipv4/tcp.c, tcp_input.c, tcp_output.c,
 * tcp_ipv4.c.
 *
 * Not part of the era, and why: watermark_boost_factor (15000) and boost_watermark act only when
 * __rmqueue_fallback steals a pageblock of another migrate type, and the model has no pageblocks or
 * higher orders, so 6.1's boost is always 0 here. CUBIC and HyStart belong to the senders, which
 * are remote hosts, not the guest. The tap device and the host's qdisc belong to the host kernel.
 */

import type { OomRules } from "./mm/oom.ts";

export const KERNEL_ERAS = ["3.2", "6.1"] as const;
export type KernelEra = (typeof KERNEL_ERAS)[number];

/** How the allocator decides, after direct reclaim failed, between retrying and the OOM killer. */
export const OOM_ALL_UNRECLAIMABLE = 0;
export const OOM_SHOULD_RECLAIM_RETRY = 1;

export interface KernelEraParams {
  readonly era: KernelEra;
  /** The ceiling calculate_min_free_kbytes / init_per_zone_wmark_min clamps min_free_kbytes to. */
  readonly minFreeKbytesCeil: number;
  /** LOW/HIGH spaced by watermark_scale_factor (v4.6+) instead of 3.2's min/4 and min/2. */
  readonly wmarkScaleFactor: boolean;
  /**
   * Pages __zone_watermark_ok takes off NR_FREE_PAGES before comparing it with the mark for an
   * order-0 request: 3.2 as the model has always had it (2), 6.1's __zone_watermark_unusable_free
   * (1 << order) - 1 = 0 (nr_reserved_highatomic is 0: the model has no high-atomic pageblocks).
   */
  readonly wmarkUnusableFree: number;
  /** oom_badness's formula and select_bad_process's tie rule (mm/oom_kill.c; oom.ts). */
  readonly oomBadness: OomRules;
  /** OOM_ALL_UNRECLAIMABLE (3.2) or OOM_SHOULD_RECLAIM_RETRY (v4.7+). */
  readonly oomRule: number;
  /**
   * 6.1's kswapd: balances to the high watermark without 3.2's balance gap, gives a node up after
   * MAX_RECLAIM_RETRIES fruitless balance_pgdat runs (kswapd_failures) instead of marking the zone
   * all_unreclaimable, is woken only while the node is below its high watermark (pgdat_balanced),
   * and sets ZONE_RECLAIM_ACTIVE while it runs.
   */
  readonly kswapd61: boolean;
  /**
   * 6.1's handling of anon pages under writeback in reclaim: shrink_folio_list activates them
   * (nr_writeback, or nr_immediate for kswapd on a PGDAT_WRITEBACK node) and shrink_node throttles
   * through reclaim_throttle (WRITEBACK for kswapd, CONGESTED and NOPROGRESS for direct reclaim).
   * False: 3.2's shrink_page_list puts them back on the inactive list (keep_lumpy), and its
   * wait_iff_congested never sleeps for swap (swap.ts).
   */
  readonly reclaimThrottle61: boolean;
  /**
   * Per-cpu list sizing: 3.2's setup_pageset (high = 6 × batch, batch capped at 512 KiB / 4) or
   * 6.1's zone_set_pageset_high_and_batch (batch capped at 1 MiB / 4, high from the low watermark
   * split over the CPUs, freeing by nr_pcp_free / nr_pcp_high).
   */
  readonly pcp61: boolean;
  /** tcp_init's tcp_mem: limit = nr_free_buffer_pages() / tcpMemDivisor (8 in 3.2, 16 in 6.1). */
  readonly tcpMemDivisor: number;
  /** sysctl_tcp_rmem[1]: 87380 in 3.2, 131072 in 6.1 (tcp_init). */
  readonly tcpRmemDefault: number;
  /**
   * tcp_rmem[2] = max(tcpRmemDefault, min(tcpRmemMaxCap, max(pages / tcpRmemMaxDivisor, 128) <<
   * (PAGE_SHIFT - 7))) for pages = nr_free_buffer_pages(): 3.2 shifts tcp_mem[1] (pages / 8) and
   * caps at 4 MB; 6.1 shifts the pages themselves and caps at 6 MB.
   */
  readonly tcpRmemMaxCap: number;
  readonly tcpRmemMaxDivisor: number;
  /** net.ipv4.tcp_adv_win_scale: 2 in 3.2.0, 1 from v3.4 (tcp_sk_init in 6.1). */
  readonly tcpAdvWinScale: number;
  /**
   * The receiver's 6.1 rules (receiver.ts receiver61): tcp_select_initial_window without 3.2's
   * TCP_DEFAULT_INIT_RCVWND (10 segments) clamp on the first window, and tcp_rcv_space_adjust sizing
   * for rcvwin = 2 × copied + 16 × advmss grown by the rate increase (v4.19+) instead of 2 × copied.
   */
  readonly tcpReceiver61: boolean;
  /**
   * The sender's 6.1 send-buffer rules (sender.ts): tcp_init_buffer_space and tcp_new_space call
   * tcp_sndbuf_expand (a power-of-two head per segment, at least TCP_INIT_CWND segments) instead of
   * 3.2's tcp_fixup_sndbuf and SKB_TRUESIZE budget, and tcp_should_expand_sndbuf compares
   * tcp_packets_in_flight, not packets_out, with the window.
   */
  readonly tcpSender61: boolean;
}

export const ERA_3_2: KernelEraParams = {
  era: "3.2",
  oomBadness: "3.2",
  // init_per_zone_wmark_min (mm/page_alloc.c, v3.2): clamp to [128, 65536].
  minFreeKbytesCeil: 65536,
  wmarkScaleFactor: false,
  wmarkUnusableFree: 2,
  oomRule: OOM_ALL_UNRECLAIMABLE,
  kswapd61: false,
  reclaimThrottle61: false,
  pcp61: false,
  // tcp_init (net/ipv4/tcp.c, v3.2): limit = max(nr_free_buffer_pages() / 8, 128).
  tcpMemDivisor: 8,
  tcpRmemDefault: 87380,
  // tcp_init (v3.2): max(87380, min(4 MB, tcp_mem[1] << (PAGE_SHIFT - 7))), tcp_mem[1] = pages / 8.
  tcpRmemMaxCap: 4 * 1024 * 1024,
  tcpRmemMaxDivisor: 8,
  // net/ipv4/tcp_input.c (v3.2.0): int sysctl_tcp_adv_win_scale __read_mostly = 2.
  tcpAdvWinScale: 2,
  tcpReceiver61: false,
  tcpSender61: false,
};

export const ERA_6_1: KernelEraParams = {
  era: "6.1",
  oomBadness: "6.1",
  // calculate_min_free_kbytes (mm/page_alloc.c, v6.1): clamp(new_min_free_kbytes, 128, 262144).
  minFreeKbytesCeil: 262144,
  // __setup_per_zone_wmarks (v6.1): max(tmp >> 2, mult_frac(managed, watermark_scale_factor, 10000)).
  wmarkScaleFactor: true,
  // __zone_watermark_unusable_free (v6.1): (1 << order) - 1, plus nr_reserved_highatomic (0 here).
  wmarkUnusableFree: 0,
  // should_reclaim_retry / MAX_RECLAIM_RETRIES (v6.1).
  oomRule: OOM_SHOULD_RECLAIM_RETRY,
  // wakeup_kswapd, pgdat_balanced, balance_pgdat, set_reclaim_active (mm/vmscan.c, v6.1).
  kswapd61: true,
  // shrink_folio_list, shrink_node, reclaim_throttle, consider_reclaim_throttle (mm/vmscan.c, v6.1).
  reclaimThrottle61: true,
  pcp61: true,
  // tcp_init_mem (net/ipv4/tcp.c, v6.1): limit = max(nr_free_buffer_pages() / 16, 128).
  tcpMemDivisor: 16,
  // tcp_init (v6.1): sysctl_tcp_rmem[1] = 131072.
  tcpRmemDefault: 131072,
  // tcp_init (v6.1): max_rshare = min(6UL*1024*1024, nr_free_buffer_pages() << (PAGE_SHIFT - 7));
  // sysctl_tcp_rmem[2] = max(131072, max_rshare).
  tcpRmemMaxCap: 6 * 1024 * 1024,
  tcpRmemMaxDivisor: 1,
  // tcp_sk_init (net/ipv4/tcp_ipv4.c, v6.1): net->ipv4.sysctl_tcp_adv_win_scale = 1.
  tcpAdvWinScale: 1,
  // tcp_select_initial_window (tcp_output.c), tcp_init_buffer_space, tcp_rcv_space_adjust (v6.1).
  tcpReceiver61: true,
  // tcp_sndbuf_expand, tcp_new_space, tcp_should_expand_sndbuf (net/ipv4/tcp_input.c, v6.1).
  tcpSender61: true,
};

/** The parameter object of an era (the one place the era's name is resolved). */
export function kernelEra(era: KernelEra): KernelEraParams {
  return era === "6.1" ? ERA_6_1 : ERA_3_2;
}

/** PAGE_SHIFT - 7 (x86, PAGE_SHIFT 12): tcp_init's shift from pages to bytes of tcp_rmem[2]. */
const TCP_RMEM_SHIFT = 5;

/** tcp_rmem[2] of an era for a guest with `freeBufferPages` (nr_free_buffer_pages()). */
export function tcpRmemMax(p: KernelEraParams, freeBufferPages: number): number {
  const limit = Math.max(Math.floor(freeBufferPages / p.tcpRmemMaxDivisor), 128);
  return Math.max(p.tcpRmemDefault, Math.min(p.tcpRmemMaxCap, limit * 2 ** TCP_RMEM_SHIFT));
}

/** sysctl_tcp_wmem[1] = 16*1024 (tcp_init, 3.2 and 6.1): a new socket's sk_sndbuf. */
export const TCP_WMEM_DEFAULT = 16 * 1024;

/**
 * tcp_wmem[2] of an era: tcp_init's max(64*1024, min(4 MB, limit)) with limit the same share of
 * memory as tcp_rmem[2]'s (3.2: tcp_mem[1] << (PAGE_SHIFT - 7); 6.1: nr_free_buffer_pages() <<
 * (PAGE_SHIFT - 7)); both eras cap it at 4 MB.
 */
export function tcpWmemMax(p: KernelEraParams, freeBufferPages: number): number {
  const limit = Math.max(Math.floor(freeBufferPages / p.tcpRmemMaxDivisor), 128);
  return Math.max(64 * 1024, Math.min(4 * 1024 * 1024, limit * 2 ** TCP_RMEM_SHIFT));
}
