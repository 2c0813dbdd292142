import { describe, expect, it } from "vitest";
import { resolveScenario } from "../../run/run.ts";
import { System } from "../../run/system.ts";
import { ms, sec } from "../../sim/time.ts";
import { mmFixture } from "../mm/fixture.ts";
import { OWNER_PAGECACHE_CLEAN, OWNER_PAGECACHE_DIRTY, OWNER_PAGECACHE_WRITEBACK } from "../mm/page-table.ts";
import { EventPoll } from "../fs/eventpoll.ts";
import type { Kernel, KernelCode } from "../sched/kernel.ts";
import {
  PIECE_MSG_HEADER,
  type PeerSocket,
  TorrentClient,
  type TorrentOptions,
  type UploadSocket,
} from "./torrent.ts";

/** A peer socket with `left` bytes readable; counts its recv() calls. */
class FakeSocket implements PeerSocket {
  reads = 0;
  constructor(public left: number) {}
  read(max: number): number {
    this.reads++;
    const n = Math.min(max, this.left);
    this.left -= n;
    return n;
  }
  get readableBytes(): number {
    return this.left;
  }
}

/** A peer taking every send() at once, for 10 us of the sender's CPU. */
class FakeUpload implements UploadSocket {
  bytes = 0;
  constructor(private readonly k: Kernel) {}
  *sendmsg(n: number): KernelCode<number> {
    this.bytes += n;
    yield this.k.cpu(10_000);
    return n;
  }
}

const KiB = 1024;
// 16 blocks of 16 KiB in the queue, pieces of 4 blocks (16 pages), 64 pieces.
const OPTS: TorrentOptions = {
  size: 64 * 64 * KiB,
  pieceSize: 64 * KiB,
  blockSize: 16 * KiB,
  queue: 256 * KiB,
  readSize: 64 * KiB,
  copyPerKiB: 100,
  hashPerKiB: 100,
  uploadRate: 0,
};

/** A client over `peers` fake sockets, each with bytesPerPeer readable (or bytes[i] for socket i). */
function client(peers: number, bytesPerPeer: number | readonly number[], disk: boolean) {
  const f = mmFixture({ memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 });
  const socks = Array.from(
    { length: peers },
    (_, i) => new FakeSocket(typeof bytesPerPeer === "number" ? bytesPerPeer : (bytesPerPeer[i] ?? 0)),
  );
  const task = f.mm.registerTask("client");
  const ep = new EventPoll(f.k, "client");
  // Readable from the start: each socket's data arrived before the thread runs.
  for (const s of socks) {
    const item = ep.add();
    if (s.left > 0) ep.callback(item);
  }
  let read = 0;
  const c = new TorrentClient(f.k, f.mm, task, socks, ep, f.sim.rng("torrent.test.pieces"), OPTS, (n) => {
    read += n;
  });
  f.k.spawn("client", 0, () => c.networkThread());
  if (disk) f.k.spawn("client-disk", 0, () => c.diskThread());
  return { ...f, c, socks, ep, read: () => read };
}

describe("torrent client", () => {
  it("stops reading its sockets when the block queue is full", () => {
    const t = client(3, 10 << 20, false);
    t.sim.run(sec(1));
    // 16 blocks fill the queue; no socket may hold a block's worth beyond it.
    expect(t.c.queued).toBe(16);
    expect(t.c.counters.queueHighWater).toBe(16);
    expect(t.c.counters.queueFullWaits).toBe(1);
    expect(t.read()).toBeGreaterThanOrEqual(16 * 16 * KiB);
    expect(t.read()).toBeLessThan(16 * 16 * KiB + 3 * 16 * KiB);
    // The queue's 64 pages are the task's anonymous memory.
    expect(t.mm.tasks[0]!.anonRss).toBe(64);
    t.mm.checkInvariant();
  });

  it("resumes reading once the disk thread has taken the queue below its low watermark", () => {
    const t = client(3, 2 << 20, true);
    t.sim.run(sec(2));
    // Everything the peers sent was read and written: 6 MiB = 384 blocks, 96 pieces' worth.
    expect(t.read()).toBe(3 * (2 << 20));
    expect(t.c.counters.blocksWritten).toBe(384);
    expect(t.c.counters.queueHighWater).toBe(16);
    // Each wait ends only below 14 blocks (7/8 of 16): at least 3 blocks read per wait.
    expect(t.c.counters.queueFullWaits).toBeGreaterThan(1);
    expect(t.c.counters.queueFullWaits).toBeLessThanOrEqual(384 / 3 + 1);
    t.mm.checkInvariant();
  });

  it("writes blocks into distinct pages at random pieces of the file", () => {
    const t = client(2, 1 << 20, true);
    t.sim.run(sec(2));
    const lru = t.mm.lru;
    const pieces = new Set<number>();
    let cached = 0;
    for (let page = 0; page < OPTS.size / 4096; page++) {
      const pfn = lru.findPage(t.c.file, page);
      if (pfn < 0) continue;
      cached++;
      pieces.add(Math.floor(page / 16));
      expect([OWNER_PAGECACHE_DIRTY, OWNER_PAGECACHE_WRITEBACK, OWNER_PAGECACHE_CLEAN]).toContain(
        t.mm.ownerOf(pfn),
      );
    }
    // 2 MiB in 512 distinct pages: 32 whole pieces, not the first 32 of the file.
    expect(t.c.counters.blocksWritten).toBe(128);
    expect(cached).toBe(512);
    expect(pieces.size).toBe(32);
    expect([...pieces].every((p) => p < 32)).toBe(false);
    expect(t.mm.vmstat().nr_dirtied).toBe(512);
  });

  it("re-reads each finished piece to hash it, which activates its pages", () => {
    const t = client(2, 1 << 20, true);
    t.sim.run(sec(2));
    const v = t.mm.vmstat();
    expect(t.c.counters.piecesHashed).toBe(32);
    expect(t.c.counters.hashPagesFromDisk).toBe(0);
    expect(v.pgactivate).toBe(512);
    expect(v.nr_active_file).toBe(512);
  });

  it.each([
    [250_000, 2],
    [1_000_000, 2],
  ])("keeps uploads at %d bytes/s to %d peers under the rate limit", (rate, n) => {
    const f = mmFixture({ memBytes: 64 << 20, minFreeKbytes: 1024, kernelReservedBytes: 0 });
    const ups = Array.from({ length: n }, () => new FakeUpload(f.k));
    const socks = [new FakeSocket(1 << 20)];
    const task = f.mm.registerTask("client");
    const opts = { ...OPTS, uploadRate: rate };
    const rng = f.sim.rng("torrent.test.pieces");
    const ep = new EventPoll(f.k, "client");
    ep.callback(ep.add());
    const c = new TorrentClient(f.k, f.mm, task, socks, ep, rng, opts, () => {}, ups, rng);
    f.k.spawn("client", 0, () => c.networkThread());
    f.k.spawn("client-disk", 0, () => c.diskThread());
    f.k.spawn("client-upload", 0, () => c.uploadThread());
    f.sim.run(sec(4));
    const msg = OPTS.blockSize + PIECE_MSG_HEADER;
    expect(c.counters.bytesUploaded).toBe(ups.reduce((a, u) => a + u.bytes, 0));
    expect(c.counters.blocksUploaded * msg).toBe(c.counters.bytesUploaded);
    // Never ahead of rate × 4 s (plus the send() that starts a period), and close to it.
    expect(c.counters.bytesUploaded).toBeLessThanOrEqual(rate * 4 + msg);
    expect(c.counters.bytesUploaded).toBeGreaterThan(rate * 3.5);
    // In turn over the peers.
    expect(Math.abs(ups[0]!.bytes - ups[1]!.bytes)).toBeLessThanOrEqual(msg);
  });

  it("visits only the readable sockets of a thousand, in round-robin order", () => {
    const bytes: number[] = [];
    const busy = [7, 300, 512];
    for (const i of busy) bytes[i] = 1 << 20;
    const t = client(1000, bytes, true);
    const log: number[] = [];
    for (const i of busy) {
      const s = t.socks[i]!;
      const read = s.read.bind(s);
      s.read = (max) => {
        log.push(i);
        return read(max);
      };
    }
    t.sim.run(sec(2));
    expect(t.read()).toBe(3 << 20);
    // No recv() on the 997 idle sockets: a wake-up costs the readable sockets, not all of them.
    expect(t.socks.reduce((n, s) => n + s.reads, 0)).toBe(log.length);
    // Each visit reads at most readSize (64 KiB), then the socket goes behind the other two.
    expect(log.length).toBeGreaterThanOrEqual(3 * 16);
    const drained = log.length - 2;
    for (let v = 0; v < drained; v++) expect(log[v]).toBe(busy[v % 3]);
    expect(t.ep.ready).toBe(0);
  });

  it("opens one connection per flow the scenario deals it, and reads every one", () => {
    const raw = {
      duration: "400ms",
      warmup: "100ms",
      network: { senders: [{ count: 120, rtt: "20ms", rate: "5Mbit/s", stagger: "1ms" }] },
      apps: { readers: [{ name: "client", torrent: { size: "64MiB" } }] },
    };
    const sys = new System(resolveScenario({ raw, origin: "<test>" }));
    sys.sim.run(ms(400));
    const c = sys.torrentClients[0]!;
    expect(c.counters.connections).toBe(120);
    expect(sys.stack.receivers.every((rx) => rx.counters.bytesRead > 0)).toBe(true);
    expect(c.counters.blocksWritten).toBeGreaterThan(0);
  });
});
