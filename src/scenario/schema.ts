/**
 * The scenario schema: the single source of validation, defaults, documentation and the published
 * JSON Schema. Every field has a default and a description; every object is strict. Durations, sizes
 * and rates are written with units and come out as integers (ns, bytes, bit/s). "auto" values that
 * follow a kernel formula are resolved here, so the parsed Scenario holds the numbers a run uses.
 * Cross-field rules live in the superRefine callbacks at the level that sees all fields involved.
 */
import { z } from "zod";
import { KERNEL_ERAS, type KernelEra, kernelEra, tcpRmemMax } from "../guest/kernel-era.ts";
import { SUPPORTED_HZ } from "../sim/time.ts";
import {
  allowedText,
  DURATION_KIND,
  formatDuration,
  formatSize,
  RATE_KIND,
  SIZE_KIND,
  tryParseQuantity,
  type UnitKind,
  unitPattern,
} from "./units.ts";

/**
 * Every driver version a scenario may name. The driver registry (src/guest/net/virtio_net) must
 * implement exactly these; a test there checks it against this list.
 */
export const DRIVER_VERSIONS = [
  "v3.2",
  "patch1",
  "rfc-v1",
  "mainline",
  "mainline-3.2buf",
  "drop-recycle",
  "reserve-pool",
  "adaptive-retry",
  "page-recycle",
] as const;
export type DriverVersion = (typeof DRIVER_VERSIONS)[number];

export const RX_MODES = ["small", "big", "mergeable"] as const;
export type RxMode = (typeof RX_MODES)[number];
/** Host backends the model implements (QEMU's userspace virtio-net is not modelled yet). */
export const BACKENDS = ["vhost"] as const;
export const CONGESTION_CONTROLS = ["cubic", "reno"] as const;

/** x86 PAGE_SIZE; the model counts memory in pages. */
export const PAGE_SIZE = 4096;

// ---------------------------------------------------------------------------------------------
// Kernel formulas behind the "auto" values.

/**
 * init_per_zone_wmark_min (mm/page_alloc.c): min_free_kbytes = int_sqrt(lowmem_kbytes * 16), clamped
 * to [128, 65536] (3.2) or [128, 262144] (6.1's calculate_min_free_kbytes). lowmem_kbytes is nr_free_buffer_pages() at boot; we use the guest's memory size,
 * which reproduces the table in the kernel comment (512 MB → 2896 k, 1 GB → 4096 k).
 */
export function defaultMinFreeKbytes(memoryBytes: number, ceil = 65536): number {
  const kbytes = Math.floor(memoryBytes / 1024);
  return Math.min(ceil, Math.max(128, Math.floor(Math.sqrt(kbytes * 16))));
}

/**
 * tcp_init (net/ipv4/tcp.c): 3.2's limit = max(nr_free_buffer_pages() / 8, 128) pages and
 * tcp_rmem[2] = max(87380, min(4 MB, limit << (PAGE_SHIFT - 7))); 6.1's max(131072, min(6 MB,
 * nr_free_buffer_pages() << (PAGE_SHIFT - 7))) (kernel-era.ts). Memory size stands in for
 * nr_free_buffer_pages() as above, so a 512 MiB guest gets 512 KiB on 3.2 and 4 MiB on 6.1.
 */
export function defaultTcpRmemMax(memoryBytes: number, era: KernelEra = "3.2"): number {
  return tcpRmemMax(kernelEra(era), Math.floor(memoryBytes / PAGE_SIZE));
}

/**
 * The guest kernel era when the scenario says "auto": the kernel's own driver versions run on the
 * kernel they were written for (v3.2, and the seed's patches to it, on 3.2; mainline on 6.1), and
 * our policies, built on mainline, on 6.1 like it.
 */
export function defaultKernelEra(version: DriverVersion): KernelEra {
  return version === "v3.2" || version === "patch1" || version === "rfc-v1" ? "3.2" : "6.1";
}

/**
 * NAPI weight when the scenario says "auto": v3.2's virtio_net registers `napi_weight = 128` (a module
 * parameter; still 128 in 3.8), and so do patch1 and rfc-v1, patches to it; v6.1 uses
 * NAPI_POLL_WEIGHT = 64. Our own policies are built on `mainline` (its refill threshold and
 * refill_work), so they take its weight too: a policy differs from mainline only in its policy.
 */
export function defaultNapiWeight(version: DriverVersion): number {
  return version === "v3.2" || version === "patch1" || version === "rfc-v1" ? 128 : 64;
}

/** The mode virtnet_probe/try_fill_recv pick (v3.2): mergeable if MRG_RXBUF, else big if TSO4/TSO6/ECN. */
export function rxModeFor(f: {
  mrgRxbuf: boolean;
  guestTso4: boolean;
  guestTso6: boolean;
  guestEcn: boolean;
}): RxMode {
  if (f.mrgRxbuf) return "mergeable";
  return f.guestTso4 || f.guestTso6 || f.guestEcn ? "big" : "small";
}

/**
 * Descriptors one receive buffer takes without indirect descriptors: small = 2 (virtio_net_hdr +
 * data), big = MAX_SKB_FRAGS + 2 = 20, mergeable = 1 (add_recvbuf_*, v3.2).
 */
export const DIRECT_DESCRIPTORS: Readonly<Record<RxMode, number>> = { small: 2, big: 20, mergeable: 1 };

// ---------------------------------------------------------------------------------------------
// Field builders: each knows what it allows and says so in its error message and description.

const MAX_INT = Number.MAX_SAFE_INTEGER;

function intSchema(min: number, max: number, orText = "") {
  const error = `must be ${orText}an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

function int(def: number, doc: string, min: number, max: number) {
  return intSchema(min, max).default(def).describe(doc);
}

function bool(def: boolean, doc: string) {
  return z.boolean({ error: "must be true or false" }).default(def).describe(doc);
}

function choice<const T extends readonly [string, ...string[]]>(values: T, def: T[number], doc: string) {
  const error = `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
  return z.enum(values, { error }).default(def).describe(doc);
}

/** A duration/size/rate string → integer in base units, bounded by [min, max] (written with units). */
function unitSchema(kind: UnitKind, min: string, max: string, orText = "") {
  const lo = parseBound(kind, min);
  const hi = parseBound(kind, max);
  const allowed = `must be ${orText}${allowedText(kind)}`;
  const unparsable = (value: unknown): string => {
    if (value === undefined) return allowed;
    const r = tryParseQuantity(kind, value);
    return "reason" in r ? `${r.reason}; ${allowed}` : allowed;
  };
  return z
    .string({ error: (iss) => unparsable(iss.input) })
    .transform((text, ctx) => {
      const r = tryParseQuantity(kind, text);
      if ("reason" in r) {
        ctx.issues.push({ code: "custom", message: unparsable(text), input: text });
        return z.NEVER;
      }
      if (r.value < lo || r.value > hi) {
        ctx.issues.push({
          code: "custom",
          message: `must be ${orText}${kind.noun} from ${min} to ${max}`,
          input: text,
        });
        return z.NEVER;
      }
      return r.value;
    })
    .meta({ pattern: unitPattern(kind) });
}

function parseBound(kind: UnitKind, text: string): number {
  const r = tryParseQuantity(kind, text);
  if ("reason" in r) throw new Error(`schema bound "${text}": ${r.reason}`);
  return r.value;
}

const unitDoc = (kind: UnitKind, min: string, max: string): string =>
  ` ${kind.noun.replace(/^a/, "A")} from ${min} to ${max}, with a unit: ${[...kind.units.keys()].join(", ")}.`;

/** A field builder for one kind of quantity, with a default and its usual bounds. */
const quantity =
  (kind: UnitKind, lowest: string, highest: string) =>
  (def: string, doc: string, min = lowest, max = highest) =>
    unitSchema(kind, min, max)
      .prefault(def)
      .describe(doc + unitDoc(kind, min, max));

/** The same without a default, for list items whose meaning is the value itself (an outage's start). */
const requiredQuantity =
  (kind: UnitKind, lowest: string, highest: string) =>
  (doc: string, min = lowest, max = highest) =>
    unitSchema(kind, min, max).describe(`${doc} Required.${unitDoc(kind, min, max)}`);

const duration = quantity(DURATION_KIND, "0s", "24h");
const size = quantity(SIZE_KIND, "0B", "64GiB");
const rate = quantity(RATE_KIND, "1kbit/s", "1Tbit/s");
const requiredDuration = requiredQuantity(DURATION_KIND, "0s", "24h");
const requiredSize = requiredQuantity(SIZE_KIND, "4KiB", "64GiB");

/** Cross-field rules run only on subtrees whose fields are all valid, so they never report cascades. */
const whenValid = { when: (p: { issues: readonly unknown[] }) => p.issues.length === 0 };

/** "auto" or the inner schema; "auto" passes through and the parent resolves it. */
function autoOr<T extends z.ZodType>(inner: (orText: string) => T, innerText: string, doc: string) {
  return z
    .union([z.literal("auto"), inner('"auto" or ')], { error: `must be "auto" or ${innerText}` })
    .default("auto")
    .describe(doc);
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const NAME_TEXT = 'a name of 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit';
const nameSchema = z
  .string({ error: `must be ${NAME_TEXT}` })
  .regex(NAME_RE, { error: `must be ${NAME_TEXT}` });

/** Fills in positional names ("reader0", …) for list items written without one. */
function named<T extends { name?: string | undefined }>(
  items: T[],
  prefix: string,
): (T & { name: string })[] {
  return items.map((it, i) => ({ ...it, name: it.name ?? `${prefix}${i}` }));
}

// ---------------------------------------------------------------------------------------------
// guest.driver

const featuresSchema = z.strictObject({
  mrgRxbuf: bool(
    false,
    "VIRTIO_NET_F_MRG_RXBUF (QEMU property mrg_rxbuf): mergeable receive buffers, one page per buffer. QEMU " +
      "offers it by default, but the seed's devices did not (RFC cover letter: only the small-buffer path was " +
      "tested), so the default is off.",
  ),
  guestCsum: bool(
    true,
    "VIRTIO_NET_F_GUEST_CSUM (guest_csum): the guest accepts packets with a partial checksum. QEMU default on. " +
      "Required by guestTso4/guestTso6 (VIRTIO 1.x 5.1.3.1).",
  ),
  guestTso4: bool(
    false,
    "VIRTIO_NET_F_GUEST_TSO4 (guest_tso4): without mrgRxbuf, any of guestTso4/guestTso6/guestEcn sets " +
      "big_packets in virtnet_probe (big mode). Off by default to match the seed's small-buffer devices.",
  ),
  guestTso6: bool(false, "VIRTIO_NET_F_GUEST_TSO6 (guest_tso6); see guestTso4."),
  guestEcn: bool(
    false,
    "VIRTIO_NET_F_GUEST_ECN (guest_ecn); requires guestTso4 or guestTso6 (VIRTIO 1.x 5.1.3.1); see guestTso4.",
  ),
  indirectDesc: bool(
    true,
    "VIRTIO_RING_F_INDIRECT_DESC (indirect_desc): a buffer of several sg entries takes one ring slot through a " +
      "kmalloc'd indirect table (vring_add_indirect), falling back to direct descriptors when that allocation " +
      "fails. QEMU default on.",
  ),
  eventIdx: bool(
    true,
    "VIRTIO_RING_F_EVENT_IDX (event_idx): notification suppression through used_event/avail_event " +
      "(vring_need_event). QEMU default on.",
  ),
});

const driverSchema = z
  .strictObject({
    version: choice(
      DRIVER_VERSIONS,
      "v3.2",
      "The virtio_net receive path to model: v3.2 (net-next of January 2012, which the seed patches apply " +
        "to), patch1 (seed patch 1: add_recvbuf_small passes the caller's gfp; merged), rfc-v1 (seed patches 1 " +
        "and 2: refill_work no longer disables NAPI; batched allocation outside rx_fill_lock), mainline (v6.1 " +
        "refill rules, receive buffers and ring), mainline-3.2buf (v6.1 refill rules on v3.2's buffers and ring, " +
        "the base of our policies), and vnetlab's own policies drop-recycle, reserve-pool, adaptive-retry, page-recycle.",
    ),
    rxMode: choice(
      ["auto", ...RX_MODES],
      "auto",
      "Receive buffer mode. The driver does not choose it: virtnet_probe derives it from the features " +
        "(mergeable if mrgRxbuf, else big if guestTso4/guestTso6/guestEcn, else small), so 'auto' takes that " +
        "result and an explicit value must agree with the features.",
    ),
    ringSize: intSchema(1, 32768)
      .refine((n) => (n & (n - 1)) === 0, { error: "must be a power of two from 1 to 32768" })
      .default(256)
      .describe(
        "Receive virtqueue size in descriptors: a power of two up to 32768 (VIRTIO 1.x, Split Virtqueues). " +
          "256 is QEMU's rx queue size (virtio_add_queue(…, 256, virtio_net_handle_rx)).",
      ),
    txRingSize: intSchema(32, 32768)
      .refine((n) => (n & (n - 1)) === 0, { error: "must be a power of two from 32 to 32768" })
      .default(256)
      .describe(
        "Transmit virtqueue size in descriptors: a power of two from 32 (start_xmit stops the queue below " +
          "2 + MAX_SKB_FRAGS = 19 free) to 32768. 256 is QEMU's tx queue size (virtio_add_queue(…, 256, " +
          "virtio_net_handle_tx_bh), hw/virtio-net.c).",
      ),
    txQueueLen: int(
      1000,
      "The guest interface's tx_queue_len: packets pfifo_fast holds while start_xmit has stopped the queue, " +
        "then qdisc_drop (ether_setup's 1000, net/ethernet/eth.c; pfifo_fast_enqueue, net/sched/sch_generic.c).",
      1,
      1_000_000,
    ),
    features: featuresSchema
      .prefault({})
      .describe(
        "Negotiated virtio feature bits. Defaults: QEMU's, except the offloads the seed's devices lacked.",
      ),
    napiWeight: autoOr(
      (or) => intSchema(1, 1024, or),
      "an integer from 1 to 1024",
      "virtnet_poll's budget per call (netif_napi_add weight). 'auto': 128 (v3.2's napi_weight module " +
        "parameter) for every version except mainline, which uses NAPI_POLL_WEIGHT = 64.",
    ),
    rxAllocateBatch: int(
      32,
      "rfc-v1 only: buffers allocated per batch outside rx_fill_lock before adding them to the ring " +
        "(seed patch 2's rx_allocate_batch module parameter, default 32). Ignored by other versions, so a sweep " +
        "over driver.version can keep it set.",
      1,
      32768,
    ),
    rfcOomInit: bool(
      false,
      "rfc-v1 only: the value the RFC's try_fill_recv_* reads from its uninitialised `bool oom;` before the " +
        "first `oom |= …`. true makes every fill report OOM, so refill_work re-arms itself every HZ/2 " +
        "forever; false is what a zeroed stack slot gives. Ignored by other versions.",
    ),
    irqCpu: int(
      0,
      "vCPU that takes the virtio rx interrupt and so runs NAPI (softirqs run on the CPU that raised them). " +
        "Must be below guest.vcpus.",
      0,
      63,
    ),
  })
  .superRefine((d, ctx) => {
    const f = d.features;
    // VIRTIO 1.x 5.1.3.1 feature bit requirements: a driver must not accept these without their prerequisites.
    for (const tso of ["guestTso4", "guestTso6"] as const) {
      if (f[tso] && !f.guestCsum) {
        ctx.addIssue({
          code: "custom",
          path: ["features", tso],
          input: true,
          message: `requires features.guestCsum: true (VIRTIO 1.x 5.1.3.1: VIRTIO_NET_F_GUEST_TSO4/6 require VIRTIO_NET_F_GUEST_CSUM)`,
        });
      }
    }
    if (f.guestEcn && !f.guestTso4 && !f.guestTso6) {
      ctx.addIssue({
        code: "custom",
        path: ["features", "guestEcn"],
        input: true,
        message: "requires features.guestTso4 or features.guestTso6 (VIRTIO 1.x 5.1.3.1)",
      });
    }
    const derived = rxModeFor(f);
    if (d.rxMode !== "auto" && d.rxMode !== derived) {
      ctx.addIssue({
        code: "custom",
        path: ["rxMode"],
        input: d.rxMode,
        message:
          `must be "auto" or "${derived}" with these features (virtnet_probe picks mergeable iff mrgRxbuf, else ` +
          `big iff guestTso4/guestTso6/guestEcn, else small); to get "${d.rxMode}" set ` +
          (d.rxMode === "mergeable"
            ? "features.mrgRxbuf: true"
            : d.rxMode === "big"
              ? "features.mrgRxbuf: false and features.guestTso4: true"
              : "features.mrgRxbuf, guestTso4, guestTso6 and guestEcn to false"),
      });
    }
    // Indirect tables are kmalloc'd and fall back to direct descriptors when that fails (memory pressure
    // is the point here), and the direct path has BUG_ON(out + in > vq->vring.num) (virtqueue_add_buf_gfp).
    const need = DIRECT_DESCRIPTORS[derived];
    if (d.ringSize < need) {
      ctx.addIssue({
        code: "custom",
        path: ["ringSize"],
        input: d.ringSize,
        message:
          `must be at least ${need} in ${derived} mode: one buffer takes ${need} direct descriptors, and the ` +
          "direct path (the fallback when an indirect table cannot be allocated) hits BUG_ON(out + in > " +
          "vq->vring.num) in virtqueue_add_buf_gfp",
      });
    }
  }, whenValid)
  .transform((d) => ({
    ...d,
    rxMode: rxModeFor(d.features),
    napiWeight: d.napiWeight === "auto" ? defaultNapiWeight(d.version) : d.napiWeight,
  }));

// ---------------------------------------------------------------------------------------------
// guest.costs, guest.tcp

type CostTable<K extends string> = Record<K, readonly [def: string, doc: string]>;

function costs<K extends string>(table: CostTable<K>) {
  const shape = {} as Record<K, ReturnType<typeof duration>>;
  for (const k of Object.keys(table) as K[]) {
    const [def, doc] = table[k];
    shape[k] = duration(
      def,
      `${doc} Assumption for 2012-era x86 under KVM; override to test sensitivity.`,
      "0ns",
      "1s",
    );
  }
  return z.strictObject(shape);
}

const guestCosts = costs({
  irq: [
    "2us",
    "One virtio interrupt in the guest: injection, vring_interrupt → skb_recv_done, and the EOI, which exits " +
      "to the hypervisor on hardware of the time (no APICv).",
  ],
  napiPoll: [
    "500ns",
    "Fixed cost of one virtnet_poll call (net_rx_action bookkeeping, virtqueue_enable_cb).",
  ],
  receiveBuf: [
    "400ns",
    "Per used buffer: virtqueue_get_buf, receive_buf (skb_trim or page_to_skb) and netif_receive_skb to IP.",
  ],
  tcpRx: ["1us", "Per TCP segment: tcp_v4_rcv → tcp_rcv_established, queueing and window update."],
  ackTx: ["2us", "Per ACK the guest sends: tcp_send_ack and start_xmit on the tx virtqueue with its kick."],
  skbAlloc: [
    "250ns",
    "One __netdev_alloc_skb on the slab fast path (kmalloc data + skbuff_head_cache head).",
  ],
  pageAlloc: ["150ns", "One order-0 page from the per-cpu lists (buffered_rmqueue fast path)."],
  addBuf: ["100ns", "One virtqueue_add_buf_gfp (descriptor writes; the indirect table kmalloc if used)."],
  kick: [
    "4us",
    "virtqueue_kick's notify: a PIO write that exits to the host (ioeventfd under vhost); the vCPU waits for " +
      "the exit round trip.",
  ],
  copyPerKiB: ["150ns", "Copying 1 KiB to user space in recvmsg (skb_copy_datagram_iovec), about 6.5 GB/s."],
  skbFree: ["150ns", "Freeing one consumed skb (__kfree_skb) after the copy."],
  reclaimPerPage: [
    "300ns",
    "Direct reclaim or kswapd, per page scanned in shrink_page_list (isolate, check, free clean page cache).",
  ],
  contextSwitch: ["2us", "Switching to a kworker, ksoftirqd or application thread (schedule)."],
  processOneWork: [
    "1us",
    "A kworker's bookkeeping per work item around the function (process_one_work: gcwq lock round trips, " +
      "busy hash, list moves), paid before its cond_resched.",
  ],
  pageFault: [
    "1us",
    "One anonymous page fault of a memory hog or spike (do_anonymous_page, including zeroing 4 KiB).",
  ],
  allocFailWarning: [
    "25ms",
    "One printed warn_alloc_failed (at most 10 per 5 s, nopage_rs), charged to the failing context: about " +
      "4 KB of text (the failure line, dump_stack, show_free_areas) to a QEMU-emulated 16550 serial console " +
      "at two port-I/O exits (~3 us each) per character. A VGA or virtio console is faster.",
  ],
})
  .prefault({})
  .describe("CPU time the guest spends per operation, charged to the vCPU that runs it (model.md §5).");

const rmemSchema = z.strictObject({
  min: size(
    "4KiB",
    "tcp_rmem[0]: the receive memory every socket may still charge under tcp_memory_pressure " +
      "(sk_rmem_schedule → __sk_mem_schedule's sk_rmem_alloc < prot->sysctl_rmem[0]).",
  ),
  default: autoOr(
    (or) => unitSchema(SIZE_KIND, "4KiB", "64MiB", or),
    "a size from 4KiB to 64MiB",
    "tcp_rmem[1]: initial sk_rcvbuf (tcp_init). 'auto': 87380 bytes on guest.kernel 3.2 (65535 bytes of " +
      "window at advWinScale 2), 131072 on 6.1 (65536 at advWinScale 1).",
  ),
  max: autoOr(
    (or) => unitSchema(SIZE_KIND, "4KiB", "64MiB", or),
    "a size from 4KiB to 64MiB",
    "tcp_rmem[2]: autotuning ceiling. 'auto': tcp_init's, on 3.2 max(87380, min(4 MB, (pages/8) << 5)), " +
      "i.e. memory/1024 for guests up to 4 GiB; on 6.1 max(131072, min(6 MB, pages << 5)), i.e. memory/128.",
  ),
});

const tcpSchema = z.strictObject({
  rmem: rmemSchema.prefault({}).describe("net.ipv4.tcp_rmem (bytes; charged by skb truesize)."),
  advWinScale: autoOr(
    (or) => intSchema(-20, 31, or),
    "an integer from -20 to 31",
    "net.ipv4.tcp_adv_win_scale: tcp_win_from_space = space - space >> scale. 'auto': 2 on guest.kernel 3.2 " +
      "(3.2.0, so 3/4 of the buffer is advertised), 1 on 6.1 (from v3.4; tcp_sk_init). The sysctl accepts " +
      "-31..31 (net/ipv4/sysctl_net_ipv4.c tcp_adv_win_scale_min/max), but tcp_rcv_space_adjust's int loop " +
      "`while (tcp_win_from_space(rcvmem) < advmss) rcvmem += 128` ends only while advmss << -scale fits an " +
      "int: -20 for the 1448-byte advmss.",
  ),
  moderateRcvbuf: bool(
    true,
    "net.ipv4.tcp_moderate_rcvbuf: receive buffer autotuning (tcp_rcv_space_adjust).",
  ),
  delayedAck: bool(
    true,
    "Delayed ACKs: ACK every second full segment or when the delayed-ACK timer (TCP_DELACK_MIN = HZ/25) fires.",
  ),
  sack: bool(true, "net.ipv4.tcp_sack (default 1)."),
  timestamps: bool(
    true,
    "net.ipv4.tcp_timestamps (default 1): whether the guest's connections negotiate the timestamp option " +
      "(RFC 7323; the remote peers always offer it). On: every segment and ACK carries its 12 bytes (MSS and " +
      "advmss 1448), RTT comes from its echo, ACKs hold up to 3 SACK blocks and tcp_collapse keeps it as " +
      "header room in each collapsed skb. Off: MSS and advmss 1460, 54-byte headers, up to 4 SACK blocks, " +
      "and senders sample RTT only from ACKs of segments never retransmitted (tcp_ack_no_tstamp).",
  ),
  ackSkbs: bool(
    true,
    "tcp_send_ack allocates its skb (alloc_skb(MAX_TCP_HEADER, GFP_ATOMIC), deferring the ACK when that " +
      "fails) and the ACK leaves through the qdisc and the tx virtqueue. false: ACKs cost CPU only and go " +
      "straight to the host's network (the model before its transmit path; tests that isolate the receive " +
      "path use it).",
  ),
});

const guestSchema = z
  .strictObject({
    vcpus: int(1, "Guest vCPUs (model.md §5: default 1, as in the seed's small guests).", 1, 64),
    memory: size(
      "512MiB",
      "Guest RAM, a multiple of 4KiB. 512 MiB is the small-memory guest of the seed's workload, where page " +
        "cache from the downloads pushes free memory to the watermarks.",
      "64MiB",
      "64GiB",
    ),
    baseMemory: size(
      "48MiB",
      "Unreclaimable memory in use before the scenario starts (kernel image, page tables, slab, system " +
        "daemons), a typical footprint of a 2012 server distribution just after boot.",
    ),
    minFreeKbytes: autoOr(
      (or) => intSchema(128, 65536, or),
      "an integer from 128 to 65536",
      "vm.min_free_kbytes, which sets WMARK_MIN (3.2: LOW = 1.25x, HIGH = 1.5x; 6.1: see " +
        "mm.watermarkScaleFactor). 'auto': the kernel's int_sqrt(memory_kbytes * 16) clamped to [128, 65536] " +
        "(3.2 init_per_zone_wmark_min) or [128, 262144] (6.1 calculate_min_free_kbytes).",
    ),
    kernel: z
      .union([z.enum(["auto", ...KERNEL_ERAS]), z.literal([3.2, 6.1])], {
        error: `must be one of "auto", ${KERNEL_ERAS.map((e) => JSON.stringify(e)).join(", ")}`,
      })
      .default("auto")
      .describe(
        "The guest kernel's era for everything but the driver: the page allocator's watermark spacing, the OOM " +
          "decision (3.2's all_unreclaimable or 6.1's should_reclaim_retry with MAX_RECLAIM_RETRIES 16), kswapd, " +
          "per-cpu list sizes, and the TCP receiver's defaults (tcp_rmem, tcp_adv_win_scale, tcp_mem, " +
          "tcp_rcv_space_adjust). 'auto': 3.2 for v3.2, patch1 and rfc-v1, 6.1 for mainline and our policies " +
          "(built on mainline). The numbers 3.2 and 6.1 (as YAML and --set read them) are accepted too. " +
          "docs/results.md, 'mainline on 6.1 rules', lists what of 6.1 is modelled.",
      ),
    mm: z
      .strictObject({
        watermarkScaleFactor: int(
          10,
          "vm.watermark_scale_factor (6.1 era only; ignored on 3.2, so a sweep over guest.kernel can keep it " +
            "set), in 1/10000 of the zone: __setup_per_zone_wmarks spaces LOW = MIN + max(MIN/4, " +
            "pages × factor / 10000) and HIGH = LOW + the same. Default and bounds are the sysctl's (10, 1–3000).",
          1,
          3000,
        ),
      })
      .prefault({})
      .describe("Page allocator settings beyond vm.min_free_kbytes."),
    swap: z
      .strictObject({
        size: requiredSize("Swap space (a swap partition's size; whole pages are used)."),
        bandwidth: rate(
          "100MB/s",
          "Transfer rate of the swap device (a 2012 SATA disk streams ~100 MB/s; swap writes are sequential).",
        ),
        latency: duration(
          "5ms",
          "Per-request latency of the swap device (seek + rotation of a 7200 rpm disk; ~0.1ms for an SSD).",
          "0s",
          "10s",
        ),
      })
      .optional()
      .describe(
        "A swap device. With it anonymous pages are reclaimable (anon LRU lists, vm_swappiness 60): reclaim " +
          "writes unreferenced ones out (pswpout) and a touch reads them back (pswpin, a major fault that blocks " +
          "the toucher). Absent (default): no swap, anonymous memory stays resident until its task exits or is " +
          "OOM-killed.",
      ),
    hz: z
      .literal(SUPPORTED_HZ, { error: `must be one of ${SUPPORTED_HZ.join(", ")}` })
      .default(250)
      .describe(
        "Guest CONFIG_HZ: 250 is the default in kernel/Kconfig.hz; 100 and 1000 are " +
          "allowed (300 is not, its tick is not a whole number of ns). Timers (HZ/2 refill retry, RTO, delayed " +
          "ACK) quantise to 1/HZ.",
      ),
    dirtyRatio: int(20, "vm.dirty_ratio (%): writers are throttled in balance_dirty_pages above it.", 1, 100),
    dirtyBackgroundRatio: int(
      10,
      "vm.dirty_background_ratio (%): background writeback starts above it. Must be below dirtyRatio.",
      0,
      99,
    ),
    dirtyExpire: duration(
      "30s",
      "vm.dirty_expire_centisecs: age at which dirty data is written back anyway.",
    ),
    dirtyWritebackInterval: duration(
      "5s",
      "vm.dirty_writeback_centisecs: period of the flusher's wakeups.",
      "10ms",
      "1h",
    ),
    driver: driverSchema.prefault({}).describe("The guest's virtio_net driver and device configuration."),
    costs: guestCosts,
    tcp: tcpSchema
      .prefault({})
      .describe("The guest's TCP receiver ('auto' values follow guest.kernel's defaults)."),
  })
  .superRefine((g, ctx) => {
    if (g.memory % PAGE_SIZE !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["memory"],
        input: g.memory,
        message: `must be a multiple of 4KiB (the page size); nearest: ${formatSize(Math.floor(g.memory / PAGE_SIZE) * PAGE_SIZE)}`,
      });
    }
    if (g.dirtyBackgroundRatio >= g.dirtyRatio) {
      ctx.addIssue({
        code: "custom",
        path: ["dirtyBackgroundRatio"],
        input: g.dirtyBackgroundRatio,
        message: `must be below dirtyRatio (${g.dirtyRatio}); the kernel would silently use dirtyRatio/2 instead`,
      });
    }
    if (g.driver.irqCpu >= g.vcpus) {
      ctx.addIssue({
        code: "custom",
        path: ["driver", "irqCpu"],
        input: g.driver.irqCpu,
        message: `must be below guest.vcpus (${g.vcpus})`,
      });
    }
  }, whenValid)
  .transform((g) => {
    const kernel = g.kernel === "auto" ? defaultKernelEra(g.driver.version) : (String(g.kernel) as KernelEra);
    const era = kernelEra(kernel);
    const rmem = g.tcp.rmem;
    return {
      ...g,
      kernel,
      minFreeKbytes:
        g.minFreeKbytes === "auto" ? defaultMinFreeKbytes(g.memory, era.minFreeKbytesCeil) : g.minFreeKbytes,
      tcp: {
        ...g.tcp,
        advWinScale: g.tcp.advWinScale === "auto" ? era.tcpAdvWinScale : g.tcp.advWinScale,
        rmem: {
          ...rmem,
          default: rmem.default === "auto" ? era.tcpRmemDefault : rmem.default,
          max: rmem.max === "auto" ? defaultTcpRmemMax(g.memory, kernel) : rmem.max,
        },
      },
    };
  });

// ---------------------------------------------------------------------------------------------
// host

// host.cpu: the physical CPUs under the guest (src/host/pcpu.ts has the model and its assumptions).
const pcpuIndex = (doc: string) => int(0, doc, 0, 1023);
const hostCpuSchema = z
  .strictObject({
    vcpuPcpus: z
      .array(intSchema(0, 1023))
      .max(64, { error: "must have at most 64 entries" })
      .default([])
      .describe(
        "pCPU each vCPU thread runs on (index = vCPU), as pinned with virsh vcpupin or taskset; distinct " +
          "pCPUs (vCPUs sharing one are not modelled). Empty (default): vCPU i on pCPU i, each its own.",
      ),
    vhostPcpu: z
      .union([z.literal("own"), intSchema(0, 1023, '"own" or ')], {
        error: 'must be "own" or an integer from 0 to 1023',
      })
      .default("own")
      .describe(
        "pCPU of the vhost worker thread. 'own' (default): one no vCPU uses. A vCPU's pCPU: each handle_rx " +
          "pass preempts that vCPU for its CPU time (host.costs), since the waking worker gets CFS's sleeper " +
          "credit (place_entity) and check_preempt_wakeup switches to it.",
      ),
    schedLatency: duration(
      "24ms",
      "The host's sysctl_sched_latency: 6 ms × (1 + ilog2(min(ncpus, 8))) (kernel/sched.c update_sysctl), " +
        "24 ms on a host of 8 or more CPUs. With 'cfs' sharing, a co-tenant burst and the vCPU alternate " +
        "slices of half of it (sched_slice for two nice-0 threads).",
      "1ms",
      "1s",
    ),
    coTenants: z
      .array(
        z
          .strictObject({
            pcpu: pcpuIndex("pCPU the load runs on; a vCPU must run there (see vcpuPcpus)."),
            utilisation: z
              .number({ error: "must be a number from 0 to below 1" })
              .min(0, { error: "must be a number from 0 to below 1" })
              .lt(1, { error: "must be a number from 0 to below 1" })
              .describe(
                "Long-run fraction of time the co-tenant is runnable (0 ≤ u < 1). Required. Gaps between " +
                  "bursts are exponential with mean burst.mean × (1 − u)/u.",
              ),
            burst: z
              .strictObject({
                distribution: choice(
                  ["exponential", "lognormal"],
                  "exponential",
                  "Distribution of burst lengths, drawn from the run's seeded stream host.cotenant<i>.",
                ),
                mean: duration("10ms", "Mean burst length.", "1us", "1h"),
                sigma: z
                  .number({ error: "must be a number from 0 to 5" })
                  .min(0, { error: "must be a number from 0 to 5" })
                  .max(5, { error: "must be a number from 0 to 5" })
                  .default(1)
                  .describe("lognormal only: the shape σ (μ is chosen so the mean is burst.mean)."),
              })
              .prefault({})
              .describe("How long the co-tenant stays runnable once it wakes."),
            sharing: choice(
              ["cfs", "exclusive"],
              "cfs",
              "cfs: during a burst the host's CFS alternates the co-tenant (first: it wakes and preempts) and " +
                "the vCPU, sched_latency/2 each (both nice 0), so steal ≈ u/2 for bursts ≫ schedLatency. " +
                "exclusive: the burst holds the pCPU throughout (steal ≈ u), like a heavier-weighted tenant.",
            ),
          })
          .describe("Another tenant's CPU load on one pCPU."),
      )
      .max(64, { error: "must have at most 64 co-tenant loads" })
      .default([])
      .describe("Co-tenant load per pCPU; at most one entry per pCPU. Default: none."),
    vcpuOutages: z
      .array(
        z
          .strictObject({
            vcpu: int(0, "The vCPU descheduled. Must be below guest.vcpus.", 0, 63),
            at: requiredDuration("Start of the window."),
            duration: requiredDuration("Length of the window.", "1ns"),
          })
          .describe("A fixed window in which the host runs something else on the vCPU's pCPU."),
      )
      .max(1000, { error: "must have at most 1000 outages" })
      .default([])
      .describe("Deterministic descheduled windows (experiments and tests); they may overlap other causes."),
  })
  .describe(
    "The host's physical CPUs: where the vCPU threads and the vhost worker run and what else runs there. " +
      "While a vCPU is descheduled nothing of the guest runs (interrupts stay pending, softirqs, threads " +
      "and timers wait, jiffies catch up on return) and the host side keeps running. Defaults: a dedicated " +
      "pCPU per vCPU, vhost on another, no co-tenant, so the guest never loses its CPU.",
  );

const hostSchema = z
  .strictObject({
    backend: choice(
      BACKENDS,
      "vhost",
      "vhost: vhost-net handle_rx leaves packets in the tap socket when no buffer is available and re-arms " +
        "notification; the usual production setup (libvirt enables it when /dev/vhost-net exists). QEMU's " +
        "userspace virtio-net (one packet queued, tap_read_poll, flush on the kick) is not modelled yet.",
    ),
    tapQueueLen: int(
      500,
      "The tap device's tx_queue_len (TUN_READQ_SIZE = 500): packets its socket queue holds before " +
        "tun_net_xmit stops the queue (or drops, with oneQueue).",
      1,
      1_000_000,
    ),
    oneQueue: bool(
      false,
      "IFF_ONE_QUEUE: tun_net_xmit drops at the tap when its queue is full, instead of stopping the queue and " +
        "letting the qdisc in front of the tap hold packets (the 3.x default mode).",
    ),
    qdiscLimit: autoOr(
      (or) => intSchema(0, 1_000_000, or),
      "an integer from 0 to 1000000",
      "Packets the qdisc in front of the tap holds (then qdisc_drop). 'auto': tapQueueLen, since pfifo_fast's " +
        "limit is the device's tx_queue_len.",
    ),
    costs: costs({
      perPacket: [
        "1us",
        "Per packet in vhost handle_rx (or QEMU virtio_net_receive): recvmsg from the tap, get_rx_bufs, " +
          "add used. It sets the host thread's service rate.",
      ],
      copyPerKiB: ["100ns", "Copying 1 KiB into guest buffers."],
      kickLatency: ["5us", "From the guest's kick (ioeventfd) until the host thread runs handle_rx."],
      irqLatency: ["3us", "From vhost_signal (irqfd) until the interrupt reaches the guest vCPU."],
    })
      .prefault({})
      .describe(
        "Time the host's backend thread spends per operation. On its own host CPU (host.cpu.vhostPcpu " +
          "'own') these delay delivery but do not consume guest vCPU time.",
      ),
    cpu: hostCpuSchema.prefault({}),
  })
  .transform((h) => ({ ...h, qdiscLimit: h.qdiscLimit === "auto" ? h.tapQueueLen : h.qdiscLimit }));

// ---------------------------------------------------------------------------------------------
// network

const flowSchema = z
  .union(
    [
      z.literal("bulk").transform(() => ({ kind: "bulk" as const })),
      z
        .strictObject({ bytes: requiredSize("Bytes the flow sends before it closes.", "1B", "1TB") })
        .transform((o) => ({ kind: "sized" as const, bytes: o.bytes })),
    ],
    { error: 'must be "bulk" or an object { bytes: <size> }' },
  )
  .prefault("bulk")
  .describe(
    "What each flow sends: 'bulk' (always has data) or { bytes: <size> } (sends that much, then idles).",
  );

const senderGroupSchema = z
  .strictObject({
    name: nameSchema
      .optional()
      .describe('Group name for reports and outage targets. Default: "senders<i>" by position.'),
    count: int(1, "Number of identical flows (remote peers) in this group.", 1, 10_000),
    origin: choice(
      ["remote", "host"],
      "remote",
      "Where the group's senders run. 'remote': peers across the network (access link, then the shared " +
        "uplink), sending MSS-sized frames. 'host': iperf-like senders on the host itself, whose frames go " +
        "from their socket to the tap without crossing the uplink (rtt is then the host-local round trip, " +
        "e.g. 50us; rate and loss still apply to their own path). When the guest negotiated " +
        "VIRTIO_NET_F_GUEST_TSO4 (guest.driver.features.guestTso4) the tap takes TSO frames, so they send " +
        "frames of up to 64 KiB (tcp_xmit_size_goal, gso_size = MSS, gso_type TCPV4), which vhost writes " +
        "across num_buffers mergeable buffers or into one big buffer; otherwise the host kernel segments " +
        "them to MSS-sized frames before the tap (software GSO, on the sender's own CPU, which the model " +
        "does not charge).",
    ),

    rtt: duration(
      "20ms",
      "Base round-trip propagation time of each flow, excluding queueing (half each way).",
      "1us",
      "10s",
    ),
    rate: z
      .union(
        [
          z.literal("unlimited").transform(() => null),
          unitSchema(RATE_KIND, "1kbit/s", "1Tbit/s", '"unlimited" or '),
        ],
        {
          error: `must be "unlimited" or ${allowedText(RATE_KIND)}`,
        },
      )
      .prefault("unlimited")
      .describe(
        "Each sender's own access-link rate (its upload capacity); 'unlimited' leaves only the shared uplink. " +
          "Resolves to null when unlimited.",
      ),
    cc: choice(
      CONGESTION_CONTROLS,
      "cubic",
      "Sender congestion control: cubic (Linux 3.2 default) or reno (NewReno).",
    ),
    hystart: bool(
      true,
      "CUBIC's HyStart (tcp_cubic.c module parameter hystart = 1 in 3.2): leave slow start at an ACK train " +
        "of half the minimum RTT or an RTT increase of minRTT/16 (4–16 ms), from a cwnd of 16 segments. " +
        "Reno ignores it.",
    ),
    initCwnd: int(
      10,
      "Initial congestion window in segments (TCP_INIT_CWND = 10 in include/net/tcp.h of 3.2).",
      1,
      1000,
    ),
    flow: flowSchema,
    loss: z
      .number({ error: "must be a probability from 0 to 0.5" })
      .min(0, { error: "must be a probability from 0 to 0.5" })
      .max(0.5, { error: "must be a probability from 0 to 0.5" })
      .default(0)
      .describe("Independent (Bernoulli) loss probability per data packet on the way to the host."),
    start: duration("0s", "When the group's first flow opens."),
    stagger: duration(
      "0s",
      "Flow i of the group opens at start + i * stagger; spreads slow starts so they do not synchronise.",
    ),
    startJitter: duration(
      "20ms",
      "Each flow opens at a uniformly random extra delay in [0, startJitter), drawn from the run's seed: " +
        "remote peers do not connect in lockstep, and seeds then differ (with no loss, nothing else in " +
        "the model is random).",
      "0s",
      "10s",
    ),
    reader: z
      .union([z.literal("auto"), nameSchema], { error: `must be "auto" or ${NAME_TEXT}` })
      .default("auto")
      .describe(
        "Which apps.readers entry reads these flows: a reader's name, or 'auto' to deal all 'auto' flows out " +
          "round-robin over the readers in order.",
      ),
  })
  .describe("A group of identical TCP senders, remote or on the host (origin).");

const networkSchema = z.strictObject({
  uplink: z
    .strictObject({
      rate: rate("1Gbit/s", "Rate of the host's physical link that all senders share (the bottleneck)."),
      queueLen: int(
        1000,
        "Packets its queue holds before dropping (txqueuelen of a 2012 Ethernet NIC).",
        1,
        1_000_000,
      ),
    })
    .prefault({})
    .describe("The shared link from the senders to the host."),
  senders: z
    .array(senderGroupSchema)
    .max(100, { error: "must have at most 100 groups" })
    .transform((groups) => named(groups, "senders"))
    .prefault([{}])
    .describe("Sender groups. Default: one bulk flow at 20 ms RTT."),
});

// ---------------------------------------------------------------------------------------------
// apps, faults, metrics

/** A reader in torrent-client mode (src/guest/apps/torrent.ts). */
const torrentSchema = z
  .strictObject({
    size: size(
      "4GiB",
      "Content of the torrent, one file: pieces are picked from it at random and written where they belong. " +
        "Pieces are picked again (and their pages written again) once all have been downloaded.",
      "256KiB",
    ),
    pieceSize: size(
      "256KiB",
      "Piece length (BEP 3 'piece length'; 256 KiB to 1 MiB were the usual choices of 2012 torrent makers). " +
        "A multiple of blockSize that divides size; each finished piece is read back and hashed.",
      "16KiB",
      "16MiB",
    ),
    blockSize: size(
      "16KiB",
      "Request size: BEP 3's 2^14 bytes, what libtorrent and rtorrent request. A multiple of 4KiB.",
      "4KiB",
      "1MiB",
    ),
    queue: size(
      "256KiB",
      "The block queue between the network and the disk thread, in anonymous memory allocated at start " +
        "(libtorrent 0.15/0.16 session_settings max_queued_disk_bytes, 256 KiB by default); the network " +
        "thread stops reading its sockets while it is full (as libtorrent's peers do). At least one block.",
      "4KiB",
      "1GiB",
    ),
    uploadPeers: int(
      0,
      "Uploads: how many of the client's peer connections it also uploads to, as a number of unchoke slots " +
        "(the first connections; all of them when it has fewer). Each gets a guest TCP sender (tcp_sendmsg into a write queue, clones through the tx " +
        "virtqueue) towards a remote receiver that ACKs every second segment, so pure ACKs land in the " +
        "guest's receive ring. An upload thread reads blocks of pieces the client has hashed (re-read " +
        "from the page cache, or the disk when reclaimed) and send()s them to these peers in turn. 0: no uploads.",
      0,
      1000,
    ),
    uploadRate: z
      .union([z.literal("unlimited"), unitSchema(RATE_KIND, "8kbit/s", "10Gbit/s", '"unlimited" or ')], {
        error: 'must be "unlimited" or a rate from 8kbit/s to 10Gbit/s',
      })
      .default("unlimited")
      .describe(
        "The client's upload rate limit over all its upload peers (libtorrent session_settings " +
          "upload_rate_limit, whose 0 means unlimited): the upload thread waits before a send() until " +
          "the bytes sent so far fit under it. A rate (e.g. 2Mbit/s, 250kB/s) or 'unlimited'.",
      ),
  })
  .describe(
    "Makes the reader a torrent client: a network thread (the reader's) recv()s blocks from its peer " +
      "sockets into the block queue, a disk thread writes each block at its piece's offset and, when a " +
      "piece is complete, reads it back and hashes it at perKiBCost; writeToDisk is not used. Without it " +
      "the reader reads, pays perKiBCost and appends to its file in one thread.",
  );

const readerSchema = z
  .strictObject({
    name: nameSchema
      .optional()
      .describe('Reader name that senders refer to. Default: "reader<i>" by position.'),
    cpu: int(0, "vCPU the reader's thread runs on. Must be below guest.vcpus.", 0, 63),
    nice: int(0, "The reader thread's nice value (CFS weight from prio_to_weight, kernel/sched.c).", -20, 19),
    memory: size("8MiB", "Anonymous memory of the process (unreclaimable without swap)."),
    readSize: size("64KiB", "Bytes asked for per recv() call.", "1B", "16MiB"),
    perKiBCost: duration(
      "0ns",
      "Application CPU time per KiB read besides the copy (a torrent client hashing pieces with SHA-1 at " +
        "~500 MB/s spends about 2us).",
      "0ns",
      "1ms",
    ),
    writeToDisk: bool(
      false,
      "Write everything read to a file: dirty page cache, written back at apps.disk.bandwidth, throttled by " +
        "balance_dirty_pages (which stops the reader from reading its sockets).",
    ),
    rcvbuf: autoOr(
      (or) => unitSchema(SIZE_KIND, "4KiB", "64MiB", or),
      "a size from 4KiB to 64MiB",
      "sk_rcvbuf of each socket. 'auto': autotuning from guest.tcp.rmem.default up to rmem.max; a size locks " +
        "it (as SO_RCVBUF does; give the doubled value the kernel stores).",
    ),
    torrent: torrentSchema.optional(),
  })
  .describe("An application thread that reads its flows' sockets.");

const hogSchema = z
  .strictObject({
    size: requiredSize(
      "Anonymous memory the hog allocates and touches, then keeps until the end. May exceed free memory: " +
        "validation then warns of the expected OOM kill.",
    ),
    at: duration("0s", "When it starts allocating."),
    cpu: int(0, "vCPU it faults on. Must be below guest.vcpus.", 0, 63),
    touchRate: int(
      0,
      "Pages per second the hog re-touches once allocated, sweeping its footprint in order (memhog's loop): " +
        "each touch references the page (a young pte that reclaim's page_referenced sees). 0: never.",
      0,
      100_000_000,
    ),
    oomScoreAdj: int(
      0,
      "/proc/<pid>/oom_score_adj added to the OOM killer's badness (mm/oom_kill.c oom_badness); -1000 " +
        "(OOM_SCORE_ADJ_MIN) exempts the hog from OOM kills, 1000 makes it the first victim.",
      -1000,
      1000,
    ),
    restart: z
      .strictObject({
        delay: duration("1s", "Time from the kill to the new process's start (a shell loop's sleep)."),
        count: intSchema(1, 1_000_000)
          .optional()
          .describe("Restarts at most this many times; absent: every time it is killed. An integer from 1."),
      })
      .optional()
      .describe(
        "Start the hog again after the OOM killer kills it (the classic `while :; do memhog …; done`). " +
          "Absent: a killed hog stays dead.",
      ),
  })
  .describe("A process that takes anonymous memory and keeps it (a memhog).");

const appsSchema = z.strictObject({
  readers: z
    .array(readerSchema)
    .max(100, { error: "must have at most 100 readers" })
    .transform((readers) => named(readers, "reader"))
    .prefault([{}])
    .describe("Socket readers. Default: one reader on vCPU 0 that does not write to disk."),
  disk: z
    .strictObject({
      bandwidth: rate(
        "100MB/s",
        "Writeback bandwidth of the disk the readers write to (a 2012 SATA disk streams ~100 MB/s).",
      ),
      latency: duration("5ms", "Per-request latency (seek + rotation of a 7200 rpm disk).", "0s", "10s"),
    })
    .prefault({})
    .describe("The disk behind the page cache."),
  memoryHogs: z
    .array(hogSchema)
    .max(100, { error: "must have at most 100 hogs" })
    .default([])
    .describe("Processes that take memory and keep it."),
});

/** The rx allocation sites an injector's filter may name (ALLOC_SITE_* of guest/net/mm-port.ts, in order). */
export const ALLOC_SITES = [
  "small_skb_head",
  "small_skb_data",
  "rx_page",
  "page_to_skb",
  "indirect",
  "tcp_collapse",
  "tcp_send_ack",
  "tcp_sendmsg",
] as const;
export const FAULT_CONTEXTS = ["any", "softirq", "process"] as const;

const allocFaultSchema = z
  .strictObject({
    type: choice(
      ["fail_page_alloc", "failslab"],
      "fail_page_alloc",
      "fail_page_alloc: should_fail_alloc_page at the top of __alloc_pages_nodemask (every page, including new " +
        "slab pages); failslab: should_failslab in slab_pre_alloc_hook (every kmem_cache_alloc/kmalloc, even " +
        "when the cache has free objects).",
    ),
    probability: intSchema(0, 100).describe(
      "probability: percent of the calls that pass times, space and interval and then fail " +
        "(`probability <= random32() % 100` passes). Required. An integer from 0 to 100.",
    ),
    interval: int(
      1,
      "interval: only every interval-th call past times and space may fail (attr->count % interval); 1: every call.",
      1,
      MAX_INT,
    ),
    times: int(
      1,
      "times: failures left; -1 for no limit. Kernel default 1 (FAULT_ATTR_INITIALIZER): one failure, then none.",
      -1,
      MAX_INT,
    ),
    space: int(
      0,
      "space: a budget that calls pay their size from (pages for fail_page_alloc, object bytes for failslab) " +
        "without failing, until it is not above a call's size.",
      0,
      MAX_INT,
    ),
    ignoreGfpWait: bool(
      true,
      "ignore-gfp-wait: leave allocations that may sleep (__GFP_WAIT) alone, so only GFP_ATOMIC-like ones fail. " +
        "Kernel default true.",
    ),
    ignoreGfpHighmem: z
      .boolean({ error: "must be true or false" })
      .optional()
      .describe(
        "fail_page_alloc only: ignore-gfp-highmem, leave __GFP_HIGHMEM allocations alone (no rx allocation " +
          "has it). Kernel default true.",
      ),
    minOrder: intSchema(0, 10)
      .optional()
      .describe(
        "fail_page_alloc only: min-order, orders below it never fail. Kernel default 1, which spares every " +
          "allocation of the model (all order 0): set 0 to fail pages. An integer from 0 to 10.",
      ),
    sites: z
      .union(
        [
          z.literal("any"),
          z
            .array(choice(ALLOC_SITES, "rx_page", "An rx allocation site."))
            .min(1, { error: "must list at least one site" }),
        ],
        {
          error: `must be "any" or a non-empty list of ${ALLOC_SITES.map((x) => `"${x}"`).join(", ")}`,
        },
      )
      .default("any")
      .describe(
        "Stands in for the stacktrace filter (and failslab's cache-filter): which rx allocations may fail. " +
          "small_skb_head/small_skb_data: add_recvbuf_small's sk_buff and kmalloc-2048 data (mainline: receive_small's " +
          "build_skb sk_buff); rx_page: get_a_page's pages (big, mergeable; mainline: skb_page_frag_refill's " +
          "order-3 and order-0 pages); page_to_skb: its copy skb (head and data; mainline: also build_skb's " +
          "sk_buff); indirect: " +
          "vring_add_indirect's table. 'any': all of them. Allocations outside the rx path (page cache, " +
          "anonymous memory) are never failed: the model's callers there cannot take a failure. Applied where " +
          "the kernel applies the stack filter, after the probability draw.",
      ),
    context: choice(
      FAULT_CONTEXTS,
      "any",
      "Also part of the stack filter: softirq = allocations under virtnet_poll (its GFP_ATOMIC refill, " +
        "page_to_skb); process = refill_work and other process-context fills (the probe, a policy's worker).",
    ),
    at: duration("0s", "When the injector is switched on."),
    duration: unitSchema(DURATION_KIND, "1ns", "24h")
      .optional()
      .describe(
        `How long it stays on; absent: to the end of the run.${unitDoc(DURATION_KIND, "1ns", "24h")}`,
      ),
  })
  .describe("One fail_page_alloc- or failslab-like injector (lib/fault-inject.c should_fail).");

const faultsSchema = z.strictObject({
  linkOutages: z
    .array(
      z
        .strictObject({
          at: requiredDuration("Start of the outage."),
          duration: requiredDuration("Length of the outage.", "1ns"),
          link: nameSchema
            .default("uplink")
            .describe("'uplink' (all flows) or a sender group's name (that group's access links)."),
          direction: choice(
            ["both", "toGuest"],
            "both",
            "'both' drops traffic either way; 'toGuest' drops only packets towards the guest, as an empty " +
              "receive ring does, while the guest's ACKs still reach the senders.",
          ),
        })
        .describe("A link that drops every packet (in the chosen direction) for a while."),
    )
    .max(1000, { error: "must have at most 1000 outages" })
    .default([])
    .describe("Link outages; they must lie inside the run and not overlap on the same link."),
  memorySpikes: z
    .array(
      z
        .strictObject({
          at: requiredDuration("When the spike allocates."),
          size: requiredSize("Anonymous memory taken."),
          duration: requiredDuration("How long it is held before being freed.", "1ns"),
          cpu: int(0, "vCPU it faults on. Must be below guest.vcpus.", 0, 63),
        })
        .describe("A temporary anonymous allocation."),
    )
    .max(1000, { error: "must have at most 1000 spikes" })
    .default([])
    .describe("Memory spikes: anonymous memory taken at a time and freed after a while."),
  alloc: z
    .array(allocFaultSchema)
    .max(16, { error: "must have at most 16 injectors" })
    .default([])
    .describe(
      "Allocation fault injectors (Documentation/fault-injection/fault-injection.rst), consulted in order " +
        "until one fails the call. Only the receive path's allocations are candidates.",
    ),
});

/** An injector's window must lie inside the run; fail_page_alloc's own knobs are not failslab's. */
function checkAllocFaults(s: Resolved, ctx: Ctx): void {
  s.faults.alloc.forEach((f, i) => {
    const at: Path = ["faults", "alloc", i];
    if (f.at >= s.duration) {
      issue(
        ctx,
        [...at, "at"],
        formatDuration(f.at),
        `must be below duration (${formatDuration(s.duration)})`,
      );
    } else if (f.duration !== undefined && f.at + f.duration > s.duration) {
      issue(
        ctx,
        [...at, "duration"],
        formatDuration(f.duration),
        `must end within the run: at (${formatDuration(f.at)}) + duration exceeds ${formatDuration(s.duration)}`,
      );
    }
    if (f.type === "failslab") {
      for (const key of ["ignoreGfpHighmem", "minOrder"] as const) {
        if (f[key] !== undefined)
          issue(ctx, [...at, key], f[key], "applies to fail_page_alloc only; failslab has no such attribute");
      }
    }
  });
}

const metricsSchema = z.strictObject({
  stallThreshold: duration(
    "100ms",
    "A flow stalls when it delivers no data for at least this long (model.md §8).",
    "1ms",
    "1h",
  ),
});

// ---------------------------------------------------------------------------------------------
// The scenario

const scenarioObject = z.strictObject({
  name: nameSchema.default("custom").describe("Scenario name, used in reports and result stores."),
  description: z
    .string({ error: "must be a string" })
    .max(4000, { error: "must be at most 4000 characters" })
    .default("")
    .describe("What the scenario is for."),
  seed: int(
    1,
    "Seed of every random stream (losses, start jitter), so a run is exactly reproducible.",
    0,
    MAX_INT,
  ),
  duration: duration("30s", "Simulated time the run lasts.", "1ms", "24h"),
  warmup: duration(
    "2s",
    "Initial time excluded from summary statistics (slow start, first ring fill). Must be below duration.",
  ),
  sampleInterval: duration(
    "100ms",
    "Period of the sampled time series; 100 ms resolves the HZ/2 refill cadence and 200 ms RTOs.",
    "1ms",
    "1h",
  ),
  guest: guestSchema
    .prefault({})
    .describe("The guest VM: CPUs, memory and its sysctls, the virtio_net driver, TCP, and CPU costs."),
  host: hostSchema.prefault({}).describe("The host side: virtio-net backend, tap device and qdisc."),
  network: networkSchema.prefault({}).describe("Remote senders and the links between them and the host."),
  apps: appsSchema.prefault({}).describe("Guest applications: socket readers, disk writers and memory hogs."),
  faults: faultsSchema.prefault({}).describe("Faults injected at given times."),
  metrics: metricsSchema.prefault({}).describe("What to record besides the standard counters and series."),
});

export const scenarioSchema = scenarioObject
  .superRefine(checkScenario, whenValid)
  .describe(
    "A vnetlab scenario: a guest receiving TCP flows through virtio_net while its applications read, write " +
      "to disk and take memory. Every field is optional; {} is a valid scenario.",
  )
  .meta({ title: "vnetlab scenario" });

// ---------------------------------------------------------------------------------------------
// Cross-section rules

type Resolved = z.output<typeof scenarioObject>;
type Ctx = z.core.$RefinementCtx<Resolved>;
type Path = (string | number)[];

function issue(ctx: Ctx, path: Path, input: unknown, message: string): void {
  ctx.addIssue({ code: "custom", path, input, message });
}

function checkScenario(s: Resolved, ctx: Ctx): void {
  const { guest, network, apps, faults } = s;
  const d = formatDuration;
  if (s.warmup >= s.duration) {
    issue(ctx, ["warmup"], d(s.warmup), `must be below duration (${d(s.duration)})`);
  }
  if (s.sampleInterval > s.duration) {
    issue(ctx, ["sampleInterval"], d(s.sampleInterval), `must not exceed duration (${d(s.duration)})`);
  }
  const rmem = guest.tcp.rmem;
  if (rmem.min > rmem.default) {
    issue(
      ctx,
      ["guest", "tcp", "rmem", "min"],
      formatSize(rmem.min),
      `must not exceed rmem.default (${formatSize(rmem.default)})`,
    );
  }
  if (rmem.default > rmem.max) {
    issue(
      ctx,
      ["guest", "tcp", "rmem", "default"],
      formatSize(rmem.default),
      `must not exceed rmem.max (${formatSize(rmem.max)})`,
    );
  }

  const cpuRule = `must be below guest.vcpus (${guest.vcpus})`;
  apps.readers.forEach((r, i) => {
    if (r.cpu >= guest.vcpus) issue(ctx, ["apps", "readers", i, "cpu"], r.cpu, cpuRule);
    if (r.torrent !== undefined) checkTorrent(r.torrent, ["apps", "readers", i, "torrent"], ctx);
  });
  apps.memoryHogs.forEach((h, i) => {
    if (h.cpu >= guest.vcpus) issue(ctx, ["apps", "memoryHogs", i, "cpu"], h.cpu, cpuRule);
    if (h.at >= s.duration)
      issue(ctx, ["apps", "memoryHogs", i, "at"], d(h.at), `must be below duration (${d(s.duration)})`);
  });
  faults.memorySpikes.forEach((m, i) => {
    if (m.cpu >= guest.vcpus) issue(ctx, ["faults", "memorySpikes", i, "cpu"], m.cpu, cpuRule);
    if (m.at + m.duration > s.duration) {
      issue(
        ctx,
        ["faults", "memorySpikes", i, "duration"],
        d(m.duration),
        `must end within the run: at (${d(m.at)}) + duration exceeds ${d(s.duration)}`,
      );
    }
  });

  checkNames(ctx, ["apps", "readers"], apps.readers, ["auto"]);
  checkNames(ctx, ["network", "senders"], network.senders, ["uplink"]);
  checkSenders(s, ctx);
  checkOutages(s, ctx);
  checkAllocFaults(s, ctx);
  checkHostCpus(s, ctx);
  checkMemoryBudget(s, ctx);
}

/** host.cpu against the guest's vCPUs: placement, co-tenants on a vCPU's pCPU, outages in the run. */
/** Blocks are whole pages, pieces whole blocks, the content whole pieces, the queue at least a block. */
function checkTorrent(t: NonNullable<ReaderConfig["torrent"]>, at: Path, ctx: Ctx): void {
  const fs = formatSize;
  if (t.blockSize % PAGE_SIZE !== 0)
    issue(ctx, [...at, "blockSize"], fs(t.blockSize), "must be a multiple of 4KiB (the page size)");
  else if (t.pieceSize % t.blockSize !== 0)
    issue(ctx, [...at, "pieceSize"], fs(t.pieceSize), `must be a multiple of blockSize (${fs(t.blockSize)})`);
  else if (t.size % t.pieceSize !== 0)
    issue(ctx, [...at, "size"], fs(t.size), `must be a multiple of pieceSize (${fs(t.pieceSize)})`);
  if (t.queue < t.blockSize)
    issue(ctx, [...at, "queue"], fs(t.queue), `must hold at least one block (${fs(t.blockSize)})`);
}

function checkHostCpus(s: Resolved, ctx: Ctx): void {
  const c = s.host.cpu;
  const vcpus = s.guest.vcpus;
  const at: Path = ["host", "cpu"];
  if (c.vcpuPcpus.length !== 0 && c.vcpuPcpus.length !== vcpus) {
    issue(
      ctx,
      [...at, "vcpuPcpus"],
      c.vcpuPcpus,
      `must be empty or list one pCPU per vCPU (guest.vcpus = ${vcpus})`,
    );
    return;
  }
  const placed = Array.from({ length: vcpus }, (_, v) => c.vcpuPcpus[v] ?? v);
  placed.forEach((p, v) => {
    const first = placed.indexOf(p);
    if (first < v) {
      issue(
        ctx,
        [...at, "vcpuPcpus", v],
        p,
        `must differ from vCPU ${first}'s pCPU: vCPU threads sharing a pCPU are not modelled`,
      );
    }
  });
  const seen = new Map<number, number>();
  c.coTenants.forEach((t, i) => {
    if (!placed.includes(t.pcpu)) {
      issue(
        ctx,
        [...at, "coTenants", i, "pcpu"],
        t.pcpu,
        `must be a pCPU a vCPU runs on: ${placed.join(", ")} (load beside vhost alone is not modelled)`,
      );
    }
    const first = seen.get(t.pcpu);
    if (first !== undefined) {
      issue(
        ctx,
        [...at, "coTenants", i, "pcpu"],
        t.pcpu,
        `must be unique: host.cpu.coTenants[${first}] already loads pCPU ${t.pcpu} (add the utilisations)`,
      );
    } else seen.set(t.pcpu, i);
  });
  c.vcpuOutages.forEach((o, i) => {
    if (o.vcpu >= vcpus)
      issue(ctx, [...at, "vcpuOutages", i, "vcpu"], o.vcpu, `must be below guest.vcpus (${vcpus})`);
    if (o.at + o.duration > s.duration) {
      issue(
        ctx,
        [...at, "vcpuOutages", i, "duration"],
        formatDuration(o.duration),
        `must end within the run: at (${formatDuration(o.at)}) + duration exceeds ${formatDuration(s.duration)}`,
      );
    }
  });
}

function checkNames(
  ctx: Ctx,
  at: Path,
  items: readonly { name: string }[],
  reserved: readonly string[],
): void {
  const seen = new Map<string, number>();
  items.forEach((it, i) => {
    if (reserved.includes(it.name)) {
      issue(
        ctx,
        [...at, i, "name"],
        it.name,
        `must not be ${reserved.map((r) => `"${r}"`).join(" or ")} (reserved)`,
      );
    }
    const first = seen.get(it.name);
    if (first !== undefined) {
      issue(ctx, [...at, i, "name"], it.name, `must be unique; ${at.join(".")}[${first}] has the same name`);
    } else {
      seen.set(it.name, i);
    }
  });
}

function checkSenders(s: Resolved, ctx: Ctx): void {
  const readers = s.apps.readers.map((r) => r.name);
  if (s.network.senders.length > 0 && readers.length === 0) {
    issue(
      ctx,
      ["apps", "readers"],
      [],
      "must list at least one reader: network.senders has flows and someone must read them",
    );
  }
  s.network.senders.forEach((g, i) => {
    const at: Path = ["network", "senders", i];
    if (g.reader !== "auto" && readers.length > 0 && !readers.includes(g.reader)) {
      issue(
        ctx,
        [...at, "reader"],
        g.reader,
        `must be "auto" or one of the reader names: ${readers.join(", ")}`,
      );
    }
    const lastStart = g.start + (g.count - 1) * g.stagger;
    if (g.start >= s.duration) {
      issue(
        ctx,
        [...at, "start"],
        formatDuration(g.start),
        `must be below duration (${formatDuration(s.duration)})`,
      );
    } else if (lastStart >= s.duration) {
      issue(
        ctx,
        [...at, "stagger"],
        formatDuration(g.stagger),
        `is too large: the last of ${g.count} flows would open at ${formatDuration(lastStart)}, after the run ends (${formatDuration(s.duration)})`,
      );
    } else if (lastStart + g.startJitter > s.duration) {
      issue(
        ctx,
        [...at, "startJitter"],
        formatDuration(g.startJitter),
        `is too large: the last of ${g.count} flows opens at ${formatDuration(lastStart)} plus up to this, after the run ends (${formatDuration(s.duration)})`,
      );
    }
  });
}

function checkOutages(s: Resolved, ctx: Ctx): void {
  const links = ["uplink", ...s.network.senders.map((g) => g.name)];
  const byLink = new Map<string, { i: number; at: number; end: number }[]>();
  s.faults.linkOutages.forEach((o, i) => {
    const at: Path = ["faults", "linkOutages", i];
    if (!links.includes(o.link)) {
      issue(
        ctx,
        [...at, "link"],
        o.link,
        `must be "uplink" or a sender group's name: ${links.slice(1).join(", ") || "(none)"}`,
      );
      return;
    }
    if (o.at + o.duration > s.duration) {
      issue(
        ctx,
        [...at, "duration"],
        formatDuration(o.duration),
        `must end within the run: at (${formatDuration(o.at)}) + duration exceeds ${formatDuration(s.duration)}`,
      );
    }
    const list = byLink.get(o.link) ?? [];
    list.push({ i, at: o.at, end: o.at + o.duration });
    byLink.set(o.link, list);
  });
  for (const [link, list] of byLink) {
    const sorted = [...list].sort((a, b) => a.at - b.at || a.i - b.i);
    for (let k = 1; k < sorted.length; k++) {
      const prev = sorted[k - 1]!;
      const cur = sorted[k]!;
      if (cur.at < prev.end) {
        issue(
          ctx,
          ["faults", "linkOutages", cur.i, "at"],
          formatDuration(cur.at),
          `overlaps faults.linkOutages[${prev.i}] (${formatDuration(prev.at)} to ${formatDuration(prev.end)}) on link ${link}; outages on one link must not overlap`,
        );
      }
    }
  }
}

/** `guest.memory - min_free_kbytes`: what user allocations may take (__zone_watermark_ok against WMARK_MIN). */
function anonLimit(g: Resolved["guest"]): { limit: number; text: string } {
  const limit = g.memory - g.minFreeKbytes * 1024;
  const fs = formatSize;
  return { limit, text: `guest.memory ${fs(g.memory)} - min_free_kbytes ${g.minFreeKbytes} = ${fs(limit)}` };
}

/** The base memory and the readers' cannot be OOM-killed away for long (readers restart nothing), so they must fit. */
function checkMemoryBudget(s: Resolved, ctx: Ctx): void {
  const g = s.guest;
  const { limit, text } = anonLimit(g);
  const readers = readersMemory(s);
  if (g.baseMemory + readers > limit) {
    issue(
      ctx,
      ["guest", "memory"],
      formatSize(g.memory),
      `is too small: guest.baseMemory ${formatSize(g.baseMemory)} + readers' memory ${formatSize(readers)} exceed ${text}`,
    );
  }
}

/** The readers' anonymous memory: their own and, in torrent-client mode, the block queue. */
function readersMemory(s: Scenario): number {
  return s.apps.readers.reduce((n, r) => n + r.memory + (r.torrent?.queue ?? 0), 0);
}

/** A valid scenario's finding that is not an error: the path, the value and what to expect. */
export interface ScenarioWarning {
  path: string;
  value: string;
  message: string;
}

/** One line for a terminal or a report: the path, its value and the message. */
export function formatWarning(w: ScenarioWarning): string {
  return `${w.path} = ${w.value}: ${w.message}`;
}

/**
 * What a valid scenario will do that its author may not expect. Hogs and spikes whose anonymous
 * memory, with the base and the readers', exceeds memory - min_free_kbytes at some moment: without
 * swap it cannot be reclaimed, so the allocator ends in out_of_memory and kills the task with the
 * highest badness (mm/oom_kill.c). The first such moment is reported.
 */
export function scenarioWarnings(s: Scenario): ScenarioWarning[] {
  const g = s.guest;
  const { limit: ram, text: ramText } = anonLimit(g);
  const swap = g.swap?.size ?? 0;
  const limit = ram + swap;
  const text = swap === 0 ? ramText : `${ramText} + swap ${formatSize(swap)} = ${formatSize(limit)}`;
  const readers = readersMemory(s);
  const fixed = g.baseMemory + readers;
  const fs = formatSize;
  // Allocation and free events in time order; at equal times frees go first.
  const events: { t: number; delta: number; path: string }[] = [];
  s.apps.memoryHogs.forEach((h, i) =>
    events.push({ t: h.at, delta: h.size, path: `apps.memoryHogs[${i}].size` }),
  );
  s.faults.memorySpikes.forEach((m, i) => {
    const path = `faults.memorySpikes[${i}].size`;
    events.push({ t: m.at, delta: m.size, path });
    events.push({ t: m.at + m.duration, delta: -m.size, path });
  });
  events.sort((a, b) => a.t - b.t || a.delta - b.delta);
  let taken = 0;
  for (const e of events) {
    taken += e.delta;
    if (e.delta > 0 && fixed + taken > limit) {
      return [
        {
          path: e.path,
          value: fs(e.delta),
          message:
            `at ${formatDuration(e.t)} anonymous memory would reach ${fs(fixed + taken)} (base ${fs(g.baseMemory)} ` +
            `+ readers ${fs(readers)} + hogs and spikes ${fs(taken)}), more than ${text}; ` +
            `${swap === 0 ? "without swap it cannot be reclaimed" : "it cannot all be swapped out"}: expect the ` +
            "OOM killer to kill the task with the highest badness",
        },
      ];
    }
  }
  return [];
}

/** The resolved scenario: defaults filled, units converted (ns, bytes, bit/s), "auto" values resolved. */
export type Scenario = z.output<typeof scenarioSchema>;
/** What a scenario file may contain (every field optional). */
export type ScenarioInput = z.input<typeof scenarioSchema>;
export type GuestConfig = Scenario["guest"];
export type DriverConfig = GuestConfig["driver"];
export type HostConfig = Scenario["host"];
export type NetworkConfig = Scenario["network"];
export type SenderGroup = NetworkConfig["senders"][number];
export type AppsConfig = Scenario["apps"];
export type ReaderConfig = AppsConfig["readers"][number];
export type FaultsConfig = Scenario["faults"];
