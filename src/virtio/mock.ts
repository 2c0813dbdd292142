/**
 * A ready-made guest memory with one ring, an indirect-table pool and a data region, wired to a driver
 * and a device: the helper shared by unit tests, fuzz properties and the benchmark (the role of
 * rust-vmm virtio-queue's mock.rs).
 *
 * Memory map: [ring (layout.bytes)] [indirect pool] [data region].
 */
import { VirtqueueDevice } from "./device.ts";
import { Scatterlist, VirtqueueDriver } from "./driver.ts";
import { IndirectPool, indirectPoolBytes } from "./indirect.ts";
import { type RingAlignment, type VringLayout, vringLayout } from "./layout.ts";

export interface TestQueueOptions {
  size: number;
  alignment?: RingAlignment;
  eventIdx?: boolean;
  indirect?: boolean;
  initialIndex?: number;
  /** The driver publishes avail->idx per added buffer (6.1) instead of at kick (v3.2). */
  availPerAdd?: boolean;
  /** Indirect tables in the pool (default: size). */
  poolBlocks?: number;
  /** Descriptors per indirect table, and the scatterlist capacity (default 4). */
  maxSg?: number;
  /** Bytes of data region after the pool, for buffers whose header bytes tests read back (default 4096). */
  dataBytes?: number;
}

export interface TestQueue {
  memory: ArrayBuffer;
  layout: VringLayout;
  pool: IndirectPool;
  driver: VirtqueueDriver;
  device: VirtqueueDevice;
  sg: Scatterlist;
  /** Guest offset of the data region. */
  dataBase: number;
}

export function createTestQueue(opts: TestQueueOptions): TestQueue {
  const layout = vringLayout(opts.size, 0, opts.alignment ?? "legacy");
  const maxSg = opts.maxSg ?? 4;
  const poolBlocks = opts.poolBlocks ?? opts.size;
  const poolBase = layout.bytes;
  const dataBase = poolBase + indirectPoolBytes(poolBlocks, maxSg);
  const memory = new ArrayBuffer(dataBase + (opts.dataBytes ?? 4096));
  const pool = new IndirectPool(memory.byteLength, poolBase, poolBlocks, maxSg);
  const common = {
    eventIdx: opts.eventIdx ?? false,
    indirect: opts.indirect ?? false,
    initialIndex: opts.initialIndex ?? 0,
  };
  const driver = new VirtqueueDriver(memory, layout, {
    ...common,
    allocator: pool,
    availPerAdd: opts.availPerAdd ?? false,
  });
  const device = new VirtqueueDevice(memory, layout, common);
  return { memory, layout, pool, driver, device, sg: new Scatterlist(maxSg), dataBase };
}
