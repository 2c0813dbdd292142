/**
 * The kernel's tracepoints in a traced preset run: probe-under-pressure with v3.2 between 1 s and
 * 3 s, where traffic flows, kswapd keeps waking, and from about 2.3 s the atomic refills fail and
 * refill_work retries. Each subsystem's records are checked for presence, fields and pairing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { CTX_TRACE_HARDIRQ, CTX_TRACE_SOFTIRQ, TRACEPOINTS, type TraceRecord } from "../sim/trace.ts";
import { traceRecords } from "./trace.ts";

let recs: TraceRecord[] = [];
// Every ACK's skb and ring traffic is traced too: more than the default 10 s hook budget on a busy machine.
beforeAll(() => {
  recs = traceRecords("probe-under-pressure", { driver: "v3.2", from: "1s", to: "3s", events: ["all"] });
}, 60_000);

const event = (r: TraceRecord) => TRACEPOINTS[r.tp]![1];
const of = (name: string) => recs.filter((r) => event(r) === name);
/** A `key=value` field of a record (value up to the next space). */
function field(r: TraceRecord, key: string): string {
  const m = new RegExp(`(?:^| )${key}=(\\S+)`).exec(r.fields);
  if (m === null) throw new Error(`no ${key}= in ${event(r)}: ${r.fields}`);
  return m[1]!;
}

/**
 * Walks begin/end records per vCPU in emission order: an end must close the open begin with the
 * same key, and begins never nest. The window may cut a pair at either edge. Returns pairs seen.
 */
function checkPairs(begin: string, end: string, key: (r: TraceRecord) => string): number {
  const open = new Map<number, TraceRecord | null>();
  let pairs = 0;
  for (const r of recs) {
    const e = event(r);
    if (e !== begin && e !== end) continue;
    const cur = open.get(r.cpu);
    if (e === begin) {
      if (cur) throw new Error(`${begin} ${r.fields} at ${r.ts} inside ${cur.fields}`);
      open.set(r.cpu, r);
    } else if (cur === undefined) {
      open.set(r.cpu, null); // the window opened inside this pair
    } else {
      if (cur === null) throw new Error(`${end} ${r.fields} at ${r.ts} without ${begin}`);
      expect(key(r)).toBe(key(cur));
      expect(r.ts).toBeGreaterThanOrEqual(cur.ts);
      open.set(r.cpu, null);
      pairs++;
    }
  }
  return pairs;
}

describe("irq", () => {
  it("irq_handler_entry/exit pair per vCPU in hardirq context for virtio0-input and -output", () => {
    const pairs = checkPairs("irq_handler_entry", "irq_handler_exit", (r) => field(r, "irq"));
    expect(pairs).toBeGreaterThan(1000);
    const entries = of("irq_handler_entry");
    const names = new Set(entries.map((r) => r.fields));
    expect(names.has("irq=41 name=virtio0-input")).toBe(true);
    // v3.2 keeps tx interrupts off (skb_xmit_done disabled them) unless the tx ring fills.
    expect(
      [...names].every((f) => f === "irq=41 name=virtio0-input" || f === "irq=42 name=virtio0-output"),
    ).toBe(true);
    expect(of("irq_handler_exit").every((r) => /^irq=4[12] ret=handled$/.test(r.fields))).toBe(true);
    expect(entries.every((r) => r.ctx === CTX_TRACE_HARDIRQ)).toBe(true);
  });

  it("softirq_entry/exit pair per vCPU for NET_RX and the timer softirq; the virtio irq raises NET_RX", () => {
    const pairs = checkPairs("softirq_entry", "softirq_exit", (r) => field(r, "vec"));
    expect(pairs).toBeGreaterThan(1000);
    const vecs = new Set(of("softirq_entry").map((r) => r.fields));
    expect(vecs).toEqual(new Set(["vec=3 [action=NET_RX]", "vec=1 [action=TIMER]"]));
    expect(of("softirq_entry").every((r) => r.ctx === CTX_TRACE_SOFTIRQ)).toBe(true);
    const raised = of("softirq_raise");
    expect(raised.some((r) => r.ctx === CTX_TRACE_HARDIRQ && r.fields === "vec=3 [action=NET_RX]")).toBe(
      true,
    );
  });
});

describe("sched", () => {
  it("sched_switch chains per vCPU: each switch's prev is the previous switch's next, in its context", () => {
    const switches = of("sched_switch");
    expect(switches.length).toBeGreaterThan(100);
    const next = new Map<number, string>();
    for (const r of switches) {
      expect(r.fields).toMatch(
        /^prev_comm=\S+ prev_pid=\d+ prev_prio=\d+ prev_state=[RSDx] ==> next_comm=\S+ next_pid=\d+ next_prio=\d+$/,
      );
      const last = next.get(r.cpu);
      if (last !== undefined) expect(field(r, "prev_pid")).toBe(last);
      expect(field(r, "prev_pid")).not.toBe(field(r, "next_pid"));
      expect(String(r.pid)).toBe(field(r, "prev_pid"));
      expect(r.task).toBe(r.pid === 0 ? "<idle>" : field(r, "prev_comm"));
      next.set(r.cpu, field(r, "next_pid"));
    }
    const comms = new Set(switches.map((r) => field(r, "next_comm")));
    for (const c of ["swapper/0", "slow-reader", "kswapd0", "kworker/0:0"]) expect(comms).toContain(c);
    // Nice 0 everywhere in this preset: prio 120.
    expect(switches.every((r) => field(r, "prev_prio") === "120" && field(r, "next_prio") === "120")).toBe(
      true,
    );
  });

  it("every thread woken is switched to afterwards on its target vCPU", () => {
    const wakeups = of("sched_wakeup").filter((r) => r.ts < 2.9e9);
    expect(wakeups.length).toBeGreaterThan(50);
    for (const w of wakeups) {
      expect(w.fields).toMatch(/^comm=\S+ pid=\d+ prio=120 success=1 target_cpu=\d{3}$/);
      const i = recs.indexOf(w);
      const pid = field(w, "pid");
      const cpu = Number(field(w, "target_cpu"));
      expect(
        recs
          .slice(i)
          .some((r) => event(r) === "sched_switch" && r.cpu === cpu && field(r, "next_pid") === pid),
      ).toBe(true);
    }
  });
});

describe("timer", () => {
  it("timer_start for delayed work, schedule_timeout and the delayed-ACK timer; expiries at their expires", () => {
    const starts = of("timer_start");
    const fns = new Set(starts.map((r) => field(r, "function")));
    expect(fns).toEqual(new Set(["delayed_work_timer_fn", "process_timeout", "tcp_delack_timer"]));
    for (const r of starts) {
      expect(r.fields).toMatch(/^timer=\S+ function=\w+ expires=\d+ \[timeout=\d+\]$/);
    }
    // refill_work re-arms itself HZ/2 = 125 jiffies ahead at HZ 250 (virtnet.c refill_work, v3.2).
    expect(
      starts.some(
        (r) => field(r, "function") === "delayed_work_timer_fn" && r.fields.endsWith("[timeout=125]"),
      ),
    ).toBe(true);
    const expiries = of("timer_expire_entry");
    expect(new Set(expiries.map((r) => field(r, "function")))).toEqual(fns);
    // Delayed work and schedule_timeout fire exactly at the jiffy they were armed for.
    let checked = 0;
    for (const e of expiries) {
      if (field(e, "function") === "tcp_delack_timer") continue;
      const i = recs.indexOf(e);
      const start = recs
        .slice(0, i)
        .findLast((r) => event(r) === "timer_start" && field(r, "timer") === field(e, "timer"));
      if (start === undefined) continue; // armed before the window
      expect(field(e, "now")).toBe(field(start, "expires"));
      expect(e.ctx).toBe(CTX_TRACE_SOFTIRQ);
      checked++;
    }
    expect(checked).toBeGreaterThan(5);
  });
});

describe("workqueue", () => {
  it("refill_work goes queue_work → activate_work → execute_start (function refill_work) → execute_end", () => {
    const wq = recs.filter((r) => TRACEPOINTS[r.tp]![0] === "workqueue");
    const starts = wq.filter((r) => event(r) === "workqueue_execute_start");
    expect(starts.length).toBeGreaterThan(2);
    for (const s of starts) {
      expect(s.fields).toMatch(/^work struct \S+: function refill_work$/);
      expect(s.task).toMatch(/^kworker\//);
      const i = wq.indexOf(s);
      const work = /^work struct (\S+):/.exec(s.fields)![1]!;
      if (i >= 2) {
        expect(wq[i - 2]!.fields).toBe(
          `work struct=${work} function=refill_work workqueue=events req_cpu=${s.cpu} cpu=${s.cpu}`,
        );
        expect(wq[i - 1]!.fields).toBe(`work struct ${work}`);
        expect(event(wq[i - 1]!)).toBe("workqueue_activate_work");
      }
      const end = wq[i + 1];
      if (end !== undefined) {
        expect(event(end)).toBe("workqueue_execute_end");
        expect(end.fields).toBe(`work struct ${work}`);
      }
    }
  });
});

describe("kmem", () => {
  it("mm_page_alloc names page and pfn, and traces the failures with page=(null)", () => {
    const allocs = of("mm_page_alloc");
    const ok = allocs.filter((r) => !r.fields.startsWith("page=(null)"));
    expect(ok.length).toBeGreaterThan(100);
    for (const r of ok) {
      expect(r.fields).toMatch(/^page=ffffea[0-9a-f]{10} pfn=\d+ order=0 migratetype=[012] gfp_flags=\S+$/);
      // vmemmap + pfn × sizeof(struct page)
      expect(Number.parseInt(field(r, "page").slice(6), 16)).toBe(Number(field(r, "pfn")) * 64);
    }
    expect(
      allocs.some((r) => r.fields === "page=(null) pfn=0 order=0 migratetype=0 gfp_flags=GFP_ATOMIC"),
    ).toBe(true);
    expect(of("mm_page_free").length).toBeGreaterThan(100);
    expect(of("mm_page_free").every((r) => /^page=ffffea[0-9a-f]{10} pfn=\d+ order=0$/.test(r.fields))).toBe(
      true,
    );
  });

  it("kmalloc and kmem_cache_alloc carry call site, object, sizes and gfp, failures with ptr=(null)", () => {
    const km = of("kmalloc");
    const kc = of("kmem_cache_alloc");
    const re = /^call_site=\w+ ptr=(\S+) bytes_req=\d+ bytes_alloc=\d+ gfp_flags=\S+$/;
    expect(km.every((r) => re.test(r.fields))).toBe(true);
    expect(kc.every((r) => re.test(r.fields))).toBe(true);
    expect(km.some((r) => r.fields.startsWith("call_site=__netdev_alloc_skb ptr=kmalloc-2048:"))).toBe(true);
    expect(km.some((r) => r.fields.startsWith("call_site=vring_add_indirect ptr=kmalloc-"))).toBe(true);
    expect(kc.some((r) => r.fields.startsWith("call_site=__alloc_skb ptr=skbuff_head_cache:"))).toBe(true);
    expect(km.some((r) => field(r, "ptr") === "(null)" && field(r, "gfp_flags") === "GFP_ATOMIC")).toBe(true);
  });
});

describe("vmscan", () => {
  it("each wakeup_kswapd is followed by kswapd0's kswapd_wake", () => {
    const vm = recs.filter((r) => TRACEPOINTS[r.tp]![0] === "vmscan");
    const wakeups = vm.filter((r) => event(r) === "mm_vmscan_wakeup_kswapd");
    expect(wakeups.length).toBeGreaterThan(10);
    for (const w of wakeups) {
      expect(w.fields).toBe("nid=0 zid=1 order=0");
      const next = vm[vm.indexOf(w) + 1];
      if (next === undefined) continue;
      expect(event(next)).toBe("mm_vmscan_kswapd_wake");
      expect(next.fields).toBe("nid=0 order=0");
      expect(next.task).toBe("kswapd0");
    }
  });
});

describe("skb", () => {
  it("kfree_skb names the TCP receiver's drop sites in softirq context", () => {
    const drops = of("kfree_skb");
    const where = new Set(drops.map((r) => field(r, "location")));
    expect(where).toContain("tcp_validate_incoming");
    expect(where).toContain("tcp_data_queue");
    expect(drops.every((r) => /^skbaddr=skb\d+ protocol=2048 location=\w+$/.test(r.fields))).toBe(true);
    expect(drops.every((r) => r.ctx === CTX_TRACE_SOFTIRQ)).toBe(true);
  });
});
