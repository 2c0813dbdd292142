/** The driver versions selectable by name (scenario guest.driver.version, --driver, --drivers). */
import { ModelError } from "../../../../sim/simulator.ts";
import type { VirtnetDriver, VirtnetEnv, VirtnetOptions } from "../virtnet.ts";
import { AdaptiveRetry } from "./adaptive_retry.ts";
import { DropRecycle } from "./drop_recycle.ts";
import { Mainline } from "./mainline.ts";
import { PageRecycle } from "./page_recycle.ts";
import { Patch1 } from "./patch1.ts";
import { ReservePool } from "./reserve_pool.ts";
import { RfcV1 } from "./rfc_v1.ts";
import { V3_2 } from "./v3_2.ts";

type DriverClass = new (env: VirtnetEnv, opts: VirtnetOptions) => VirtnetDriver;

/** The kernel's versions: what Linux shipped, or what was posted to netdev. */
export const KERNEL_DRIVERS: Readonly<Record<string, DriverClass>> = {
  "v3.2": V3_2,
  patch1: Patch1,
  "rfc-v1": RfcV1,
  mainline: Mainline,
};

/** Policies of ours, never in Linux. */
export const OUR_DRIVERS: Readonly<Record<string, DriverClass>> = {
  "drop-recycle": DropRecycle,
  "reserve-pool": ReservePool,
  "adaptive-retry": AdaptiveRetry,
  "page-recycle": PageRecycle,
};

export function driverNames(): string[] {
  return [...Object.keys(KERNEL_DRIVERS), ...Object.keys(OUR_DRIVERS)];
}

export function isDriverNotInLinux(name: string): boolean {
  return Object.hasOwn(OUR_DRIVERS, name);
}

export function createDriver(name: string, env: VirtnetEnv, opts: VirtnetOptions): VirtnetDriver {
  const cls = KERNEL_DRIVERS[name] ?? OUR_DRIVERS[name];
  if (cls === undefined) {
    throw new ModelError(`driver "${name}" is not implemented; available: ${driverNames().join(", ")}`);
  }
  return new cls(env, opts);
}
