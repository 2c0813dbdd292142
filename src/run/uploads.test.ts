/**
 * Uploads through the whole system: the guest's senders' clones leave through the tx virtqueue,
 * the peers' pure ACKs come back through the host into the rx ring like any packet.
 */
import { describe, expect, it } from "vitest";
import { sec } from "../sim/time.ts";
import { resolveScenario, run } from "./run.ts";
import { System } from "./system.ts";

/** Two peers whose downloads (64 KiB each) end early; the client then only uploads to both. */
function scenario(faultAt?: string) {
  const atomic = { probability: 100, times: -1, ignoreGfpWait: true, at: faultAt };
  const sites = ["small_skb_head", "small_skb_data"];
  return {
    duration: "4s",
    warmup: "500ms",
    guest: { memory: "256MiB", driver: { version: "v3.2" } },
    // A short tap queue in one-queue mode: what the ring cannot take is dropped at the tap at once.
    host: { tapQueueLen: 16, oneQueue: true },
    network: { senders: [{ count: 2, rtt: "20ms", rate: "20Mbit/s", flow: { bytes: "64KiB" } }] },
    apps: {
      readers: [
        {
          name: "client",
          torrent: {
            size: "16MiB",
            pieceSize: "16KiB",
            queue: "64KiB",
            uploadPeers: 2,
            uploadRate: "8Mbit/s",
          },
        },
      ],
    },
    ...(faultAt !== undefined && {
      faults: {
        alloc: [
          { type: "failslab", ...atomic, sites },
          { type: "fail_page_alloc", ...atomic, minOrder: 0, sites },
        ],
      },
    }),
  };
}

const src = (faultAt?: string) => ({ raw: scenario(faultAt), origin: "<test>" });
const system = (faultAt?: string) =>
  new System(resolveScenario({ raw: scenario(faultAt), origin: "<test>" }), { checkInvariants: false });

describe("uploads", () => {
  it("send data through the tx virtqueue and take one rx buffer per pure ACK", () => {
    const sys = system();
    sys.sim.run(sec(1));
    // The downloads are over: from here on every received frame is an upload's ACK.
    expect(sys.senders.every((s) => s.completedAt > 0)).toBe(true);
    const acks = () => sys.uploads.reduce((a, u) => a + u.tcpCounters.acksIn, 0);
    const consumed0 = sys.driver.stats.buffersConsumed;
    const acks0 = acks();
    const outSegs = () => sys.uploads.reduce((a, u) => a + u.tcpCounters.outSegs, 0);
    const out0 = outSegs();
    const tx0 = sys.tx.stats.txPackets;
    sys.sim.run(sec(4));
    const newAcks = acks() - acks0;
    expect(newAcks).toBeGreaterThan(100);
    expect(sys.driver.stats.buffersConsumed - consumed0).toBe(newAcks);
    // Every data frame left through the tx ring (3.2 frees them at a later start_xmit: a few wait).
    const sent = outSegs() - out0;
    expect(sent).toBeGreaterThan(1000);
    expect(sys.tx.stats.txPackets - tx0).toBeGreaterThanOrEqual(sent - 16);
    expect(sys.remoteReceivers.every((r) => r.bytesReceived > 100_000)).toBe(true);
    // 8 Mbit/s over 4 s, less the start: the remote receivers got about what the limit allows.
    const received = sys.remoteReceivers.reduce((a, r) => a + r.bytesReceived, 0);
    expect(received).toBeLessThanOrEqual(4 * 1e6 + 2 * 16397);
    expect(received).toBeGreaterThan(2.5e6);
  });

  it("lose their ACKs at the host while the rx ring is empty, so the guest's RTO fires", () => {
    const clean = run(src(), {});
    const tcp = clean.tcp;
    expect(tcp.uploadRtoExpiries).toBe(0);
    expect(clean.host.hostDrops).toBe(0);
    // From 1.5 s every receive allocation fails: v3.2's ring drains (refill_work's small skbs are
    // GFP_ATOMIC too), the tap fills with ACKs and drops them; no ACK reaches the guest's senders.
    const starved = run(src("1500ms"), {});
    expect(starved.host.hostDrops).toBeGreaterThan(0);
    expect(starved.guest.vi_num).toBe(0);
    expect(starved.tcp.uploadRtoExpiries).toBeGreaterThan(0);
    expect(starved.tcp.uploadBytesAcked).toBeLessThan(tcp.uploadBytesAcked!);
  });

  it("report per-upload counters beside the flows", () => {
    const r = run(src(), { duration: "2s" });
    expect(r.uploads).toHaveLength(2);
    expect(r.uploads!.map((u) => [u.flow, u.peerFlow, u.app])).toEqual([
      [2, 0, "client"],
      [3, 1, "client"],
    ]);
    expect(r.uploads!.every((u) => u.bytesAcked > 0 && u.segmentsSent > 0)).toBe(true);
    expect(r.tcp.uploadOutSegs).toBe(r.uploads!.reduce((a, u) => a + u.segmentsSent, 0));
    expect(r.guest.torrent).toMatchObject({ uploadPeers: 2 });
    // More upload slots than connections: every connection uploads.
    const capped = new System(resolveScenario(src(), { set: ["apps.readers[0].torrent.uploadPeers=5"] }));
    expect(capped.uploads).toHaveLength(2);
    // Without uploads none of this appears.
    const none = run(src(), { duration: "1s", set: ["apps.readers[0].torrent.uploadPeers=0"] });
    expect(none.uploads).toBeUndefined();
    expect(none.tcp.uploadOutSegs).toBeUndefined();
  });

  it("push what send() queued before the connection was established from the guest's softirq", () => {
    // On 6.1's rules tcp_init_buffer_space gives 87 040 bytes of sk_sndbuf, so the upload threads
    // queue data before their connections open; tcp_finish_connect's push must run on a guest CPU
    // (an event outside any kernel context left its transmit cost pending: ModelError at the next
    // interrupt).
    const r = run("seed-torrent", { driver: "mainline", duration: "600ms", set: ["warmup=100ms"] });
    expect(r.tcp.uploadOutSegs).toBeGreaterThan(0);
  });
});
