/**
 * Throughput of the ring code on a 256-entry queue (QEMU's default rx size): one "op" is a whole buffer
 * round trip, addBuf + kick + popChain + header/payload write + addUsed + publishUsed +
 * needsNotification + getBuf. Wall-clock timing is fine here: this is a benchmark, not model code.
 */
import { createTestQueue } from "./mock.ts";

export interface BenchResult {
  name: string;
  opsPerSecond: number;
}

interface Case {
  name: string;
  indirect: boolean;
  eventIdx: boolean;
  /** Buffers per kick/drain/publish round: 1 is the unbatched worst case, 128 is a half-ring refill. */
  batch: number;
}

const CASES: Case[] = [
  { name: "virtqueue round trip, direct, 1 per kick", indirect: false, eventIdx: false, batch: 1 },
  { name: "virtqueue round trip, indirect+event_idx, 1 per kick", indirect: true, eventIdx: true, batch: 1 },
  { name: "virtqueue round trip, direct, 128 per kick", indirect: false, eventIdx: false, batch: 128 },
  {
    name: "virtqueue round trip, indirect+event_idx, 128 per kick",
    indirect: true,
    eventIdx: true,
    batch: 128,
  },
];

/** Runs `buffers` round trips in rounds of c.batch and returns the elapsed milliseconds. */
function runCase(c: Case, buffers: number): number {
  const q = createTestQueue({ size: 256, indirect: c.indirect, eventIdx: c.eventIdx, maxSg: 2 });
  const { driver, device, sg } = q;
  sg.set(0, q.dataBase, 10); // virtio_net_hdr lands in guest memory
  sg.set(1, 0x4000_0000, 1518); // payload: an opaque address
  const rounds = Math.max(1, Math.floor(buffers / c.batch));
  const start = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < c.batch; i++) driver.addBuf(0, 2, sg, i);
    driver.kick();
    for (let head = device.popChain(); head >= 0; head = device.popChain()) {
      device.chain.writeNetHdr(10, 1);
      device.chain.write(1514);
      device.addUsed(head, device.chain.written);
    }
    device.publishUsed();
    device.needsNotification();
    while (driver.getBuf() >= 0) {}
  }
  return performance.now() - start;
}

/** Round trips per second for each case; `buffers` per case (after a warm-up of a tenth as many). */
export function benchVirtqueue(buffers = 1_000_000): BenchResult[] {
  return CASES.map((c) => {
    runCase(c, Math.ceil(buffers / 10));
    const ms = runCase(c, buffers);
    const done = Math.max(1, Math.floor(buffers / c.batch)) * c.batch;
    return { name: c.name, opsPerSecond: Math.round((done / ms) * 1000) };
  });
}
