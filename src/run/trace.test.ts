import { describe, expect, it } from "vitest";
import { checkChromeTrace, formatTraceLine, PerfettoTraceWriter } from "../report/trace-format.ts";
import {
  CTX_TRACE_PROCESS,
  CTX_TRACE_SOFTIRQ,
  selectTracepoints,
  TP_NAPI_POLL,
  TP_TRY_FILL_RECV_BEGIN,
  TP_TRY_FILL_RECV_END,
  TRACEPOINTS,
  TraceSelectorError,
} from "../sim/trace.ts";
import { run } from "./run.ts";
import { traceRecords, traceToString } from "./trace.ts";

const PUP = { driver: "v3.2", from: "2s", to: "3s" } as const;

describe("selectors", () => {
  it("take trace-cmd's forms and name what exists when wrong", () => {
    expect(selectTracepoints(["napi"])).toEqual([TP_NAPI_POLL]);
    expect(selectTracepoints(["virtio_net:try_fill_recv_end", "napi:*"])).toEqual([
      TP_NAPI_POLL,
      TP_TRY_FILL_RECV_END,
    ]);
    expect(selectTracepoints(["all"])).toHaveLength(TRACEPOINTS.length);
    expect(() => selectTracepoints(["napi:bogus"])).toThrow(/allowed: napi:napi_poll/);
    expect(() => selectTracepoints(["bogus"])).toThrow(TraceSelectorError);
  });
});

describe("a traced run", () => {
  it("executes exactly the events of an untraced one (same fingerprint), and the same seed gives the same bytes", () => {
    const plain = run("probe-under-pressure", { driver: "v3.2", duration: "2500ms" });
    const a = traceToString("probe-under-pressure", "perfetto", { ...PUP, to: "2500ms", events: ["all"] });
    const b = traceToString("probe-under-pressure", "perfetto", { ...PUP, to: "2500ms", events: ["all"] });
    expect(a.summary.fingerprint).toBe(plain.fingerprint);
    expect(a.records).toBeGreaterThan(1000);
    expect(a.text).toBe(b.text);
  });

  it("tells v3.2's story: atomic refills fail in softirq, refill_work retries HZ/2 apart with NAPI disabled", () => {
    // 1.5 s: with ACKs that need memory the retries' phase moved; a second pair of them falls in it.
    const recs = traceRecords("probe-under-pressure", { ...PUP, to: "3500ms", events: ["virtio_net"] });
    expect(recs.every((r) => r.ts >= 2e9 && r.ts <= 3.5e9)).toBe(true);
    const atomicOom = recs.filter(
      (r) => r.tp === TP_TRY_FILL_RECV_END && /GFP_ATOMIC ret=oom/.test(r.fields),
    );
    expect(atomicOom.length).toBeGreaterThan(0);
    expect(atomicOom.every((r) => r.ctx === CTX_TRACE_SOFTIRQ || r.ctx === CTX_TRACE_PROCESS)).toBe(true);
    const works = recs.filter((r) => TRACEPOINTS[r.tp]![1] === "refill_work");
    const gaps = works.slice(1).map((w, i) => (w.ts - works[i]!.ts) / 1e6);
    // HZ 250: HZ/2 = 125 jiffies = 500 ms between retries once the fill keeps failing.
    expect(gaps.some((g) => g > 490 && g < 510)).toBe(true);
    // refill_work runs in the worker: napi_disable, try_fill_recv(GFP_KERNEL), napi_enable.
    const i = recs.findIndex((r) => TRACEPOINTS[r.tp]![1] === "refill_work");
    expect(recs.slice(i, i + 5).map((r) => TRACEPOINTS[r.tp]![1])).toEqual([
      "refill_work",
      "napi_disable",
      "try_fill_recv_begin",
      "try_fill_recv_end",
      "napi_enable",
    ]);
    expect(recs[i]!.task).toMatch(/^kworker\//);
    expect(recs[i + 2]!.tp).toBe(TP_TRY_FILL_RECV_BEGIN);
    expect(recs[i + 2]!.fields).toContain("gfp_flags=GFP_KERNEL");
  });

  it("prints trace-cmd report's layout, sorted by time", () => {
    const { text } = traceToString("probe-under-pressure", "text", {
      ...PUP,
      to: "2200ms",
      events: ["virtio_net"],
    });
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toBe("cpus=1");
    const re = /^ {0,15}\S+-\d+ +\[(\d{3}|---)\] +(\d+\.\d{9}): (\w+): +(.*)$/;
    for (const l of lines.slice(1)) expect(l).toMatch(re);
    const ts = lines.slice(1).map((l) => Number(re.exec(l)![2]));
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    expect(
      formatTraceLine({
        ts: 2_160_002_000,
        cpu: 0,
        task: "kworker/0:0",
        pid: 2,
        ctx: 0,
        tp: TP_NAPI_POLL,
        fields: "x",
      }),
    ).toBe("     kworker/0:0-2     [000]    2.160002000: napi_poll:            x");
  });

  it("writes a Trace Event Format file that passes the format's rules, with tracks per context and counters", () => {
    const { text } = traceToString("probe-under-pressure", "perfetto", {
      ...PUP,
      to: "2500ms",
      events: ["all"],
    });
    const doc = JSON.parse(text) as { traceEvents: { ph: string; name: string; args?: { name?: string } }[] };
    expect(checkChromeTrace(doc)).toEqual([]);
    const threads = doc.traceEvents
      .filter((e) => e.ph === "M" && e.name === "thread_name")
      .map((e) => e.args!.name);
    expect(threads).toEqual(expect.arrayContaining(["softirq/0", "vhost-net"]));
    expect(threads.some((n) => /^kworker\//.test(n!))).toBe(true);
    const counters = new Set(doc.traceEvents.filter((e) => e.ph === "C").map((e) => e.name));
    for (const c of ["free pages", "WMARK_MIN", "GFP_ATOMIC floor", "vi->num", "tap queue", "cwnd flow 0"]) {
      expect(counters).toContain(c);
    }
    expect(doc.traceEvents.some((e) => e.ph === "B" && e.name === "try_fill_recv(GFP_ATOMIC)")).toBe(true);
  });

  it("the format check rejects what Perfetto would not read", () => {
    expect(checkChromeTrace({})).toEqual(["not a JSON Object Format trace: no traceEvents array"]);
    const w = new PerfettoTraceWriter();
    w.event({
      ts: 10,
      cpu: 0,
      task: "t",
      pid: 3,
      ctx: CTX_TRACE_SOFTIRQ,
      tp: TP_TRY_FILL_RECV_BEGIN,
      fields: "gfp_flags=GFP_ATOMIC",
    });
    const ok = JSON.parse(w.json());
    // The writer closes what is still open at the end.
    expect(checkChromeTrace(ok)).toEqual([]);
    const unclosed = { traceEvents: ok.traceEvents.filter((e: { ph: string }) => e.ph !== "E") };
    expect(checkChromeTrace(unclosed).join()).toMatch(/unclosed B/);
    expect(checkChromeTrace({ traceEvents: [{ ph: "Q", pid: 1 }] }).join()).toMatch(/ph "Q"/);
    expect(
      checkChromeTrace({ traceEvents: [{ ph: "C", name: "x", ts: 1, pid: 1, args: { v: "a" } }] }).join(),
    ).toMatch(/counter args/);
    expect(
      checkChromeTrace({
        traceEvents: [
          { ph: "B", name: "a", ts: 5, pid: 1, tid: 1 },
          { ph: "E", name: "", ts: 4, pid: 1, tid: 1 },
        ],
      }).join(),
    ).toMatch(/backwards/);
  });
});
