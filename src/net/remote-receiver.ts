/**
 * The remote end of an upload: a Linux peer receiving the guest's data segments and sending pure
 * ACKs back towards the guest. It is the guest's TCP receiver (src/guest/net/tcp/receiver.ts, 3.2
 * rules: an ACK for every second full segment or at the delayed-ACK timer, immediate ACKs with SACK
 * blocks for out-of-order data) with an application that reads every byte as it arrives, on a
 * buffer locked at REMOTE_RCVBUF, so the window opens as a Linux receiver's does and never closes.
 * Its ACKs are 66-byte frames (14 Ethernet + 20 IPv4 + 32 TCP with timestamps, 54 without; more
 * with SACK).
 */
import type { TcpReceiver } from "../guest/net/tcp/receiver.ts";
import { TcpReceiver as Receiver, TCP_RMEM_MAX } from "../guest/net/tcp/receiver.ts";
import type { Simulator } from "../sim/simulator.ts";
import type { Ns } from "../sim/time.ts";
import type { PacketSink } from "./link.ts";
import type { PacketPool } from "./packet.ts";
import { SMALL_SKB_TRUESIZE } from "./testbed.ts";

/**
 * sk_rcvbuf of the peer: tcp_rmem[2] = 4 MiB, a 2012 Linux host with plenty of memory (tcp_init,
 * v3.2), locked so autotuning does not move it; at tcp_adv_win_scale 2 it advertises up to 3 MiB.
 */
export const REMOTE_RCVBUF = TCP_RMEM_MAX;
/** The peer's HZ: 1000, as the remote senders' (CONFIG_HZ_1000 of distribution kernels). */
const REMOTE_HZ = 1000;

export class RemoteReceiver implements PacketSink {
  readonly rx: TcpReceiver;
  constructor(
    sim: Simulator,
    pool: PacketPool,
    /** Where the peer's ACKs go: its access link towards the host. */
    acks: PacketSink,
    opts: { flow: number; handshakeRttNs?: Ns; sack?: boolean; timestamps?: boolean },
  ) {
    this.rx = new Receiver(
      sim,
      pool,
      { sendAck: (p) => acks.receive(p) },
      {
        flow: opts.flow,
        hz: REMOTE_HZ,
        rcvbuf: REMOTE_RCVBUF,
        rmemMax: REMOTE_RCVBUF,
        userLocked: true,
        moderateRcvbuf: false,
        ...(opts.sack !== undefined && { sack: opts.sack }),
        ...(opts.timestamps !== undefined && { timestamps: opts.timestamps }),
        ...(opts.handshakeRttNs !== undefined && { handshakeRttNs: opts.handshakeRttNs }),
      },
    );
  }

  /** A data segment from the guest: queued by the peer's TCP and read by its application at once. */
  receive(pkt: number): void {
    this.rx.receive(pkt, SMALL_SKB_TRUESIZE);
    this.rx.read(Number.POSITIVE_INFINITY);
  }

  /** Bytes received in order (what the upload delivered). */
  get bytesReceived(): number {
    return this.rx.counters.bytesDelivered;
  }
}
