/** The driver versions selectable by name (scenario guest.driver.version, --driver, --drivers). */
import { ModelError } from "../../../../sim/simulator.ts";
import type { VirtnetDriver, VirtnetEnv, VirtnetOptions } from "../virtnet.ts";
import { AdaptiveRetry } from "./adaptive_retry.ts";
import { DropRecycle } from "./drop_recycle.ts";
import { Mainline } from "./mainline.ts";
import { Mainline61 } from "./mainline_6_1.ts";
import { PageRecycle } from "./page_recycle.ts";
import { Patch1 } from "./patch1.ts";
import { ReservePool } from "./reserve_pool.ts";
import { RfcV1 } from "./rfc_v1.ts";
import { V3_2 } from "./v3_2.ts";

type DriverClass = (new (
  env: VirtnetEnv,
  opts: VirtnetOptions,
) => VirtnetDriver) & {
  readonly availPerAdd: boolean;
};

/** The kernel's versions: what Linux shipped, or what was posted to netdev. */
export const KERNEL_DRIVERS: Readonly<Record<string, DriverClass>> = {
  "v3.2": V3_2,
  patch1: Patch1,
  "rfc-v1": RfcV1,
  mainline: Mainline61,
  "mainline-3.2buf": Mainline,
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

function driverClass(name: string): DriverClass {
  const cls = KERNEL_DRIVERS[name] ?? OUR_DRIVERS[name];
  if (cls === undefined) {
    throw new ModelError(`driver "${name}" is not implemented; available: ${driverNames().join(", ")}`);
  }
  return cls;
}

export function createDriver(name: string, env: VirtnetEnv, opts: VirtnetOptions): VirtnetDriver {
  const cls = driverClass(name);
  return new cls(env, opts);
}

/** Whether the version's ring publishes avail->idx with every buffer (6.1) or at kick (v3.2). */
export function driverAvailPerAdd(name: string): boolean {
  return driverClass(name).availPerAdd;
}
