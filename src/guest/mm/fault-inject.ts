/**
 * Fault injection as Linux has it (Documentation/fault-injection/fault-injection.rst):
 * fail_page_alloc and failslab, each a struct fault_attr decided by should_fail (lib/fault-inject.c,
 * v3.2), with the callers' own filters in front (should_fail_alloc_page in mm/page_alloc.c,
 * should_failslab in mm/failslab.c).
 *
 * The kernel's stacktrace filter (require-start/require-end) is replaced by a filter on named
 * allocation sites and on the calling context: the rx path tells mm which site it allocates for
 * (Mm.allocSite). Not modelled: the task filter (make-it-fail), verbose (fail_dump's printk and
 * dump_stack; no CPU is charged for them) and several fail_page_alloc/failslab instances (the
 * kernel has one of each; here every injector is consulted in order until one fails the call).
 */
import type { Rng } from "../../sim/rng.ts";
import type { Ns } from "../../sim/time.ts";
import { __GFP_HIGHMEM, __GFP_NOFAIL, __GFP_WAIT } from "./gfp.ts";

/** An allocation that names no rx site (the filter of an injector never matches it). */
export const SITE_NONE = -1;
/** Calling contexts an injector may be restricted to. */
export const FAULT_CTX_ANY = 0;
export const FAULT_CTX_SOFTIRQ = 1;
export const FAULT_CTX_PROCESS = 2;

export interface FaultAttrOptions {
  kind: "fail_page_alloc" | "failslab";
  /** Percent of the calls reaching the probability check that fail, 0–100. */
  probability: number;
  /** Only every interval-th call reaching the interval check may fail (≥ 1). */
  interval: number;
  /** Failures left; -1: no limit. */
  times: number;
  /** Budget consumed by call size (pages for fail_page_alloc, bytes for failslab) before any failure. */
  space: number;
  ignoreGfpWait: boolean;
  /** fail_page_alloc only. */
  ignoreGfpHighmem: boolean;
  /** fail_page_alloc only: orders below it are never failed. */
  minOrder: number;
  /** Bit i set: site i may fail. */
  siteMask: number;
  /** FAULT_CTX_*. */
  context: number;
  /** Active in [start, end). */
  start: Ns;
  end: Ns;
}

/** One injector: its struct fault_attr state and counters. */
export class FaultAttr {
  /** atomic_t times and space, attr->count (the interval counter). */
  times: number;
  space: number;
  count = 0;
  /** Calls that reached should_fail, and failures injected (in all and by site). */
  calls = 0;
  injected = 0;
  readonly injectedBySite: Float64Array;

  constructor(
    readonly opts: Readonly<FaultAttrOptions>,
    private readonly rng: Rng,
    sites: number,
  ) {
    this.times = opts.times;
    this.space = opts.space;
    this.injectedBySite = new Float64Array(sites);
  }

  /**
   * should_fail(attr, size), v3.2, in its order: times exhausted → no; space still above size → pay
   * size from it, no; interval > 1 → count, and no unless count is a multiple of interval;
   * `probability <= random32() % 100` → no; stacktrace filter (here: site and context) → no;
   * otherwise fail and, unless times is -1, decrement times. So calls the site filter rejects
   * still advance the interval counter and draw from the stream, as rejected stack traces do.
   */
  shouldFail(size: number, site: number, ctx: number): boolean {
    const o = this.opts;
    this.calls++;
    if (this.times === 0) return false;
    if (this.space > size) {
      this.space -= size;
      return false;
    }
    if (o.interval > 1) {
      this.count++;
      if (this.count % o.interval !== 0) return false;
    }
    if (o.probability <= this.rng.nextU32() % 100) return false;
    if (site < 0 || (o.siteMask & (1 << site)) === 0) return false;
    if (o.context !== FAULT_CTX_ANY && o.context !== ctx) return false;
    if (this.times !== -1) this.times--;
    this.injected++;
    this.injectedBySite[site]!++;
    return true;
  }
}

/** The configured injectors, consulted at the allocator's entry points. */
export class FaultInjection {
  readonly pageAttrs: FaultAttr[] = [];
  readonly slabAttrs: FaultAttr[] = [];
  /** Every injector in configuration order (for summaries). */
  readonly all: FaultAttr[] = [];

  add(attr: FaultAttr): void {
    (attr.opts.kind === "fail_page_alloc" ? this.pageAttrs : this.slabAttrs).push(attr);
    this.all.push(attr);
  }

  /** should_fail_alloc_page (mm/page_alloc.c, v3.2): the caller's filters, then should_fail(1 << order). */
  shouldFailAllocPage(gfp: number, order: number, site: number, ctx: number, now: Ns): boolean {
    for (const a of this.pageAttrs) {
      const o = a.opts;
      if (now < o.start || now >= o.end) continue;
      if (order < o.minOrder) continue;
      if ((gfp & __GFP_NOFAIL) !== 0) continue;
      if (o.ignoreGfpHighmem && (gfp & __GFP_HIGHMEM) !== 0) continue;
      if (o.ignoreGfpWait && (gfp & __GFP_WAIT) !== 0) continue;
      if (a.shouldFail(1 << order, site, ctx)) return true;
    }
    return false;
  }

  /** should_failslab (mm/failslab.c, v3.2): __GFP_NOFAIL and ignore-gfp-wait, then should_fail(objsize). */
  shouldFailslab(objSize: number, gfp: number, site: number, ctx: number, now: Ns): boolean {
    for (const a of this.slabAttrs) {
      const o = a.opts;
      if (now < o.start || now >= o.end) continue;
      if ((gfp & __GFP_NOFAIL) !== 0) continue;
      if (o.ignoreGfpWait && (gfp & __GFP_WAIT) !== 0) continue;
      if (a.shouldFail(objSize, site, ctx)) return true;
    }
    return false;
  }
}
