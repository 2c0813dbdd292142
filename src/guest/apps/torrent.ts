/**
 * A BitTorrent client as libtorrent (0.15/0.16, 2012) and rtorrent run one: many peer connections read
 * by a network thread, a disk thread behind a bounded in-memory block queue, pieces downloaded at
 * random positions of the content and hashed once complete.
 *
 * - Network thread (the reader's thread): recv() from the peer sockets on its epoll ready list, in
 *   the list's round-robin order (guest/fs/eventpoll.ts). Every peer
 *   connection downloads one piece at a time, block after block in order (BEP 3 "request" messages
 *   of blockSize), and takes a random piece not downloaded yet when it finishes one (libtorrent's
 *   rarest-first picks among equally rare pieces at random; with every peer a seed all pieces are
 *   equally rare). Each complete block goes into the block queue. When the queue is full the thread
 *   stops reading (libtorrent's peers stop reading once max_queued_disk_bytes are queued) and sleeps
 *   until the disk thread has brought the queue below 7/8 of its size (disk_io_thread::
 *   deducted_from_write_queue's default low watermark), so the sockets fill and advertise smaller
 *   windows.
 * - Disk thread: takes blocks in order and pwrite()s each at its offset in the content file
 *   (piece · pieceSize + block · blockSize): page-cache pages allocated, dirtied and marked accessed
 *   once (generic_perform_write). When the last block of a piece is written it reads the piece back
 *   and hashes it (SHA-1 at perKiBCost per KiB): pages still cached are activated (the second
 *   mark_page_accessed), pages reclaimed meanwhile are read from the disk.
 * - The queue's memory is anonymous, allocated when the client starts, as libtorrent's disk buffer
 *   pool holds its blocks in malloc'd buffers.
 * - Upload thread (with upload peers): serves BEP 3 "request"s from peers for blocks of pieces the
 *   client has (hashed), at random: reads the block back (do_generic_file_read: cached pages are
 *   marked accessed again, pages reclaimed meanwhile come from the disk) and send()s it with its
 *   13-byte "piece" message header to the next upload peer in turn (tcp_sendmsg, which sleeps while
 *   that socket's send buffer is full). An upload rate limit (libtorrent's upload_rate_limit) spaces
 *   the send()s so the bytes sent never run ahead of rate × time. libtorrent 0.15/0.16 reads blocks
 *   for uploads on its disk thread and writes them from its network thread's non-blocking sockets;
 *   here a thread of its own does both, so a full socket delays uploads and never downloads.
 *   Peers requesting are not modelled: each upload peer always wants the next block.
 */
import { ModelError } from "../../sim/simulator.ts";
import type { Rng } from "../../sim/rng.ts";
import type { Mm } from "../mm/mm.ts";
import type { MmTask } from "../mm/task.ts";
import { PAGE_SIZE } from "../mm/watermarks.ts";
import { CAT_APP } from "../sched/costs.ts";
import type { EventPoll } from "../fs/eventpoll.ts";
import { type Kernel, type KernelCode, WaitQueue } from "../sched/kernel.ts";

/** What the network thread reads from: a TCP socket's recv(), and whether it has data left. */
export interface PeerSocket {
  read(maxBytes: number): number;
  readonly readableBytes: number;
}

/** What the upload thread writes to: a TCP socket's blocking send(). */
export interface UploadSocket {
  sendmsg(bytes: number): KernelCode<number>;
}

/**
 * Unused upload allowance the rate limit carries (our choice: libtorrent's bandwidth manager hands
 * out quota per tick; a sender that slept past its time may catch up by at most this much).
 */
const UPLOAD_CREDIT_NS = 1_000_000_000;

/** BEP 3 "piece" message header: 4-byte length prefix, 1-byte id, 4-byte index, 4-byte begin. */
export const PIECE_MSG_HEADER = 13;

export interface TorrentOptions {
  /** Content bytes, a multiple of pieceSize. */
  size: number;
  /** Piece length, a multiple of blockSize. */
  pieceSize: number;
  /** Request size, a multiple of the page size. */
  blockSize: number;
  /** Block queue capacity in bytes (at least one block). */
  queue: number;
  /** Bytes asked for per recv(). */
  readSize: number;
  /** CPU per KiB: the copy out of the socket (network thread). */
  copyPerKiB: number;
  /** CPU per KiB: SHA-1 of a piece (disk thread). */
  hashPerKiB: number;
  /** Upload rate limit over all upload peers, bytes/s; 0: unlimited (libtorrent's upload_rate_limit). */
  uploadRate: number;
}

/** Counters of one client. */
export interface TorrentCounters {
  /** Peer connections (sockets) the client reads. */
  connections: number;
  /** Blocks the network thread put into the queue, and the disk thread wrote. */
  blocksQueued: number;
  blocksWritten: number;
  /** Times the network thread found the queue full and slept. */
  queueFullWaits: number;
  /** Most blocks in the queue at once. */
  queueHighWater: number;
  /** Pieces hashed, and pages their re-reads had to read from the disk. */
  piecesHashed: number;
  hashPagesFromDisk: number;
  /** Rounds over all pieces started (1 until every piece has been downloaded once). */
  rounds: number;
  /** Upload peers, blocks sent to them, bytes send() took (with message headers). */
  uploadPeers: number;
  blocksUploaded: number;
  bytesUploaded: number;
  /** Pages the upload re-reads had to read from the disk. */
  uploadPagesFromDisk: number;
}

export class TorrentClient {
  readonly counters: TorrentCounters;
  /** The content file's address space in the page cache. */
  readonly file: number;
  private readonly blocksPerPiece: number;
  private readonly pagesPerBlock: number;
  private readonly pagesPerPiece: number;
  /** Pieces in download order (a random permutation per round), and the next one to hand out. */
  private readonly order: Int32Array;
  private nextPick: number;
  /** Per connection: its piece (-1: none yet), the next block in it, bytes of that block received. */
  private readonly piece: Int32Array;
  private readonly block: Int32Array;
  private readonly partial: Int32Array;
  /** Blocks of each piece written so far. */
  private readonly written: Int32Array;
  /** The block queue: a ring of (piece, block). */
  private readonly qPiece: Int32Array;
  private readonly qBlock: Int32Array;
  private qHead = 0;
  private qLen = 0;
  /** m_exceeded_write_queue: set when the queue filled, cleared below the low watermark. */
  private exceeded = false;
  /** The low watermark in blocks: the queue must drop below it before the network thread reads. */
  private readonly lowWatermark: number;
  private readonly notFull = new WaitQueue("torrent_queue_not_full");
  private readonly notEmpty = new WaitQueue("torrent_queue_not_empty");
  /** Pieces hashed (the client has them), in order of completion, how many, and which. */
  private readonly have: Int32Array;
  private haveCount = 0;
  private readonly hasPiece: Uint8Array;
  private readonly pieceDone = new WaitQueue("torrent_piece_done");

  constructor(
    private readonly k: Kernel,
    private readonly mm: Mm,
    private readonly task: MmTask,
    private readonly socks: readonly PeerSocket[],
    /** The epoll instance over the sockets, items in the order of `socks`. */
    private readonly ep: EventPoll,
    /** Piece choices: a named stream of its own. */
    private readonly rng: Rng,
    private readonly opts: TorrentOptions,
    /** Called with the bytes of each recv() (the run's goodput). */
    private readonly onRead: (bytes: number) => void,
    /** Sockets of the peers the client uploads to. */
    private readonly uploads: readonly UploadSocket[] = [],
    /** Which blocks the upload thread serves: a named stream of its own. */
    private readonly uploadRng: Rng | null = null,
  ) {
    const { size, pieceSize, blockSize, queue } = opts;
    if (
      blockSize % PAGE_SIZE !== 0 ||
      pieceSize % blockSize !== 0 ||
      size % pieceSize !== 0 ||
      queue < blockSize
    )
      throw new ModelError(
        `torrent: size ${size}, pieceSize ${pieceSize}, blockSize ${blockSize}, queue ${queue} do not nest`,
      );
    this.blocksPerPiece = pieceSize / blockSize;
    this.pagesPerBlock = blockSize / PAGE_SIZE;
    this.pagesPerPiece = pieceSize / PAGE_SIZE;
    const pieces = size / pieceSize;
    this.file = mm.lru.addressSpace(size / PAGE_SIZE);
    this.order = new Int32Array(pieces);
    for (let i = 0; i < pieces; i++) this.order[i] = i;
    this.nextPick = pieces;
    const n = socks.length;
    this.piece = new Int32Array(n).fill(-1);
    this.block = new Int32Array(n);
    this.partial = new Int32Array(n);
    this.written = new Int32Array(pieces);
    this.have = new Int32Array(pieces);
    this.hasPiece = new Uint8Array(pieces);
    const cap = Math.floor(queue / blockSize);
    this.qPiece = new Int32Array(cap);
    this.qBlock = new Int32Array(cap);
    this.lowWatermark = Math.floor((queue * 7) / 8 / blockSize);
    this.counters = {
      connections: n,
      blocksQueued: 0,
      blocksWritten: 0,
      queueFullWaits: 0,
      queueHighWater: 0,
      piecesHashed: 0,
      hashPagesFromDisk: 0,
      rounds: 0,
      uploadPeers: uploads.length,
      blocksUploaded: 0,
      bytesUploaded: 0,
      uploadPagesFromDisk: 0,
    };
  }

  /** Blocks in the queue now. */
  get queued(): number {
    return this.qLen;
  }

  /** The next piece to download: the next of a random permutation, reshuffled each round. */
  private pickPiece(): number {
    const order = this.order;
    if (this.nextPick === order.length) {
      // Fisher-Yates with the client's stream.
      for (let i = order.length - 1; i > 0; i--) {
        const j = this.rng.int(i + 1);
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
      this.nextPick = 0;
      this.counters.rounds++;
    }
    return order[this.nextPick++]!;
  }

  /** Bytes from connection c: complete blocks of its piece go into the queue. */
  private received(c: number, bytes: number): void {
    const bs = this.opts.blockSize;
    const cap = this.qPiece.length;
    this.partial[c]! += bytes;
    while (this.partial[c]! >= bs) {
      this.partial[c]! -= bs;
      if (this.piece[c]! < 0) this.piece[c] = this.pickPiece();
      const slot = (this.qHead + this.qLen) % cap;
      this.qPiece[slot] = this.piece[c]!;
      this.qBlock[slot] = this.block[c]!;
      this.qLen++;
      this.counters.blocksQueued++;
      if (this.qLen > this.counters.queueHighWater) this.counters.queueHighWater = this.qLen;
      if (++this.block[c]! === this.blocksPerPiece) {
        this.block[c] = 0;
        this.piece[c] = -1;
      }
    }
    if (this.qLen > cap) throw new ModelError(`torrent: block queue over its ${cap} blocks`);
    this.k.wakeAll(this.notEmpty);
  }

  /**
   * The network thread: recv() from the ready sockets in turn, never more than the queue can still
   * take (a block's worth of room per free slot, less what the connection already holds of its block).
   */
  *networkThread(): KernelCode {
    const k = this.k;
    const socks = this.socks;
    const ep = this.ep;
    const bs = this.opts.blockSize;
    const cap = this.qPiece.length;
    yield* this.mm.allocAnon(this.task, Math.ceil(this.opts.queue / PAGE_SIZE));
    for (;;) {
      if (this.qLen === cap) {
        this.exceeded = true;
        this.counters.queueFullWaits++;
      }
      if (this.exceeded) {
        yield k.waitOn(this.notFull);
        continue;
      }
      let got = 0;
      while (got < this.opts.readSize && this.qLen < cap) {
        const c = ep.take();
        if (c < 0) break;
        const sk = socks[c]!;
        const room = (cap - this.qLen) * bs - this.partial[c]!;
        const r = sk.read(Math.min(this.opts.readSize - got, room));
        if (r > 0) {
          got += r;
          this.received(c, r);
        }
        ep.done(c, sk.readableBytes > 0);
      }
      // Nothing read with room in the queue: the ready list is empty.
      if (got === 0) {
        yield k.waitOn(ep.wq);
        continue;
      }
      k.charge((got / 1024) * this.opts.copyPerKiB, CAT_APP);
      yield k.cpu();
      this.onRead(got);
    }
  }

  /** The disk thread: write each queued block where it belongs; hash each completed piece. */
  *diskThread(): KernelCode {
    const k = this.k;
    const mm = this.mm;
    const cap = this.qPiece.length;
    for (;;) {
      if (this.qLen === 0) {
        yield k.waitOn(this.notEmpty);
        continue;
      }
      const piece = this.qPiece[this.qHead]!;
      const block = this.qBlock[this.qHead]!;
      this.qHead = (this.qHead + 1) % cap;
      this.qLen--;
      if (this.exceeded && this.qLen < this.lowWatermark) {
        this.exceeded = false;
        k.wakeAll(this.notFull);
      }
      const first = piece * this.pagesPerPiece + block * this.pagesPerBlock;
      yield* mm.writeFilePages(this.task, this.file, first, this.pagesPerBlock);
      this.counters.blocksWritten++;
      if (++this.written[piece]! < this.blocksPerPiece) continue;
      this.written[piece] = 0;
      const fromDisk = yield* mm.readFilePages(
        this.task,
        this.file,
        piece * this.pagesPerPiece,
        this.pagesPerPiece,
      );
      k.charge((this.opts.pieceSize / 1024) * this.opts.hashPerKiB, CAT_APP);
      yield k.cpu();
      this.counters.piecesHashed++;
      this.counters.hashPagesFromDisk += fromDisk;
      // A piece downloaded again in a later round is already had.
      if (this.hasPiece[piece] === 0) {
        this.hasPiece[piece] = 1;
        this.have[this.haveCount++] = piece;
        this.k.wakeAll(this.pieceDone);
      }
    }
  }

  /**
   * The upload thread: a random block of a piece the client has, read back from the file and sent
   * to the next upload peer, no faster than the rate limit.
   */
  *uploadThread(): KernelCode {
    const k = this.k;
    const ups = this.uploads;
    const rng = this.uploadRng;
    if (ups.length === 0 || rng === null) throw new ModelError("torrent: upload thread without upload peers");
    const bs = this.opts.blockSize;
    const rate = this.opts.uploadRate;
    const msg = bs + PIECE_MSG_HEADER;
    const tick = k.jiffies.tickNs;
    // When the next send() may start under the rate limit.
    let nextAt = 0;
    let peer = 0;
    for (;;) {
      if (this.haveCount === 0) {
        yield k.waitOn(this.pieceDone);
        continue;
      }
      if (rate > 0 && k.now < nextAt) {
        yield k.sleepJiffies(Math.ceil((nextAt - k.now) / tick));
        continue;
      }
      const piece = this.have[rng.int(this.haveCount)]!;
      const block = rng.int(this.blocksPerPiece);
      const first = piece * this.pagesPerPiece + block * this.pagesPerBlock;
      this.counters.uploadPagesFromDisk += yield* this.mm.readFilePages(
        this.task,
        this.file,
        first,
        this.pagesPerBlock,
      );
      const start = k.now;
      const sent = yield* ups[peer]!.sendmsg(msg);
      peer = (peer + 1) % ups.length;
      this.counters.blocksUploaded++;
      this.counters.bytesUploaded += sent;
      // The allowance a sleep overshot (jiffy timers) or an idle spell left is kept, up to a second's.
      if (rate > 0) nextAt = Math.max(nextAt, start - UPLOAD_CREDIT_NS) + Math.ceil((sent * 1e9) / rate);
    }
  }
}
