import { describe, expect, it } from "vitest";
import { run } from "./run.ts";

/**
 * A host-local iperf-like sender into a 256 MiB guest whose features pick the receive mode. `flow`
 * "bulk" sends until the end; SIZED stops early, so that at the end no frame is in flight (published
 * by vhost, not yet taken by NAPI: counted by the host only) and host and guest counts must agree.
 */
function scenario(
  features: Record<string, boolean>,
  origin: "host" | "remote" = "host",
  duration = "300ms",
  flow: "bulk" | { bytes: string } = "bulk",
) {
  return {
    raw: {
      name: "host-gso",
      duration,
      warmup: "1ms",
      sampleInterval: "1ms",
      guest: { memory: "256MiB", driver: { version: "mainline", features } },
      network: {
        senders: [{ origin, count: 1, rtt: origin === "host" ? "50us" : "1ms", startJitter: "0s", flow }],
      },
    },
  };
}
const TSO = { guestCsum: true, guestTso4: true };
/** Done in about a third of the 300 ms run. */
const SIZED = { bytes: "200MB" };

describe("host-local senders and GSO frames", () => {
  it("mergeable + GUEST_TSO4: 64 KiB frames over 16 page-sized buffers or more smaller ones, one skb each, every buffer accounted", () => {
    const r = run(scenario({ ...TSO, mrgRxbuf: true }, "host", "300ms", SIZED));
    const h = r.host;
    expect(h.rx_bytes_count).toBeGreaterThan(200e6);
    expect(h.rxGsoFrames).toBeGreaterThan(100);
    expect(h.rxGsoSegments! / h.rxGsoFrames!).toBeGreaterThan(10);
    expect(h.rxMultiBufferFrames).toBeGreaterThan(100);
    // A 64 KiB frame, 45 · 1448 + 66 + 12 bytes, takes 16 buffers of get_mergeable_buf_len's
    // largest size (a page). While the packet-length EWMA still grows, the ring holds smaller
    // buffers, down to ALIGN(hdr_len + GOOD_PACKET_LEN, 64) = 1536 bytes, and the first frames can
    // be large: the guest's SYN-ACK offered 6.1's first window of 45 MSS, and a GSO frame may be
    // half of it. A frame then takes more buffers, at most ⌈65 238 / 1536⌉ = 43.
    expect(h.rxMaxNumBuffers).toBeGreaterThanOrEqual(16);
    expect(h.rxMaxNumBuffers).toBeLessThanOrEqual(43);
    expect(h.rxBuffersPerFrame).toBeGreaterThan(8);
    // receive_mergeable takes every buffer of a frame off the ring and makes one skb of them
    expect(r.guest.rx_packets).toBe(h.rx_packets_count);
    expect(r.guest.buffersConsumed).toBe(Math.round(h.rxBuffersPerFrame! * h.rx_packets_count!));
    expect(r.guest.rx_length_errors).toBe(0);
    expect(r.goodputBps).toBeGreaterThan(1e9);
  });

  it("keeps the page-ownership invariant with multi-buffer frames", () => {
    const r = run(scenario({ ...TSO, mrgRxbuf: true }, "host", "5ms"), { checkInvariants: true });
    expect(r.host.rxMultiBufferFrames).toBeGreaterThan(10);
  });

  it("drops a frame whose head skb cannot be allocated whole: its other buffers leave the ring too", () => {
    for (const version of ["mainline", "drop-recycle"]) {
      const sc = scenario({ ...TSO, mrgRxbuf: true }, "host", "300ms", SIZED);
      const raw = sc.raw as Record<string, unknown> & { guest: { driver: { version: string } } };
      raw.guest.driver.version = version;
      raw.faults = { alloc: [{ type: "failslab", probability: 10, times: -1, sites: ["page_to_skb"] }] };
      const r = run(sc);
      const h = r.host;
      expect(r.guest.rx_dropped_nomem).toBeGreaterThan(0);
      expect(r.guest.rx_length_errors).toBe(0);
      // No later buffer of a dropped frame was taken for a frame of its own.
      expect((r.guest.rx_packets as number) + (r.guest.rx_dropped_nomem as number)).toBe(h.rx_packets_count);
      expect(r.guest.buffersConsumed).toBe(Math.round(h.rxBuffersPerFrame! * h.rx_packets_count!));
    }
  });

  it("big mode: each GSO frame fits one big buffer", () => {
    const r = run(scenario({ ...TSO, mrgRxbuf: false }));
    expect(r.host.rxGsoFrames).toBeGreaterThan(100);
    expect(r.host.rxMultiBufferFrames).toBe(0);
    expect(r.host.rxMaxNumBuffers).toBe(1);
    expect(r.host.rxOverruns).toBe(0);
  });

  it("without GUEST_TSO4 the host sends MSS-sized frames, one buffer each", () => {
    const modes: Record<string, boolean>[] = [{ mrgRxbuf: true }, {}];
    for (const features of modes) {
      const r = run(scenario(features));
      expect(r.host.rxGsoFrames).toBe(0);
      expect(r.host.rxMaxNumBuffers).toBe(1);
      expect(r.host.rx_packets_count).toBeGreaterThan(1000);
    }
  });

  it("remote senders stay MSS-only even when the guest takes TSO", () => {
    const r = run(scenario({ ...TSO, mrgRxbuf: true }, "remote"));
    expect(r.host.rxGsoFrames).toBe(0);
    expect(r.host.rxMaxNumBuffers).toBe(1);
  });

  it("rejects an unknown origin, naming the path and what is allowed", () => {
    const bad = scenario({});
    (bad.raw.network.senders[0] as { origin: string }).origin = "guest";
    expect(() => run(bad)).toThrow(/network\.senders\[0\]\.origin.*"remote", "host"/s);
  });
});
