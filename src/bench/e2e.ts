/**
 * End-to-end speed: a loss-free single-flow transfer through sender, links, host backend, ring,
 * driver, guest TCP and a reader, on a guest with memory to spare. Reports simulated packets per
 * wall-clock second and events per packet (performance.md: about four events per packet).
 */
import { performance } from "node:perf_hooks";
import { run } from "../run/run.ts";

export interface E2eResult {
  name: string;
  packets: number;
  events: number;
  wallSeconds: number;
  packetsPerSecond: number;
  eventsPerSecond: number;
  eventsPerPacket: number;
  goodputBps: number;
}

export function benchE2e(opts: { duration?: string } = {}): E2eResult[] {
  const duration = opts.duration ?? "10s";
  const raw = {
    name: "e2e-10g",
    duration,
    warmup: "100ms",
    sampleInterval: "100ms",
    guest: { vcpus: 1, memory: "4GiB" },
    network: { uplink: { rate: "10Gbit/s" }, senders: [{ count: 1, rtt: "1ms", startJitter: "0s" }] },
    apps: { readers: [{ perKiBCost: "0ns" }] },
  };
  const t0 = performance.now();
  const r = run({ raw, origin: "bench e2e" });
  const wallSeconds = (performance.now() - t0) / 1000;
  const packets = r.host.rx_packets_count!;
  return [
    {
      name: `loss-free 10 Gbit/s uplink, 1 flow, ${duration} simulated`,
      packets,
      events: r.events,
      wallSeconds,
      packetsPerSecond: packets / wallSeconds,
      eventsPerSecond: r.events / wallSeconds,
      eventsPerPacket: r.events / packets,
      goodputBps: r.goodputBps,
    },
  ];
}
