import { describe, expect, it } from "vitest";
import { DRIVER_VERSIONS } from "../../../../scenario/schema.ts";
import { ms } from "../../../../sim/time.ts";
import { driverNames, isDriverNotInLinux, KERNEL_DRIVERS, OUR_DRIVERS } from "./index.ts";
import { policyHarness } from "./policy-testing.ts";

describe("driver registry", () => {
  it("implements exactly the versions a scenario may name", () => {
    expect([...driverNames()].sort()).toEqual([...DRIVER_VERSIONS].sort());
  });

  it("marks our policies as not in Linux, and only them", () => {
    for (const name of Object.keys(OUR_DRIVERS)) expect(isDriverNotInLinux(name)).toBe(true);
    for (const name of Object.keys(KERNEL_DRIVERS)) expect(isDriverNotInLinux(name)).toBe(false);
  });

  it.each(Object.keys(OUR_DRIVERS))(
    "%s: the scenario's version builds that driver, which receives",
    (name) => {
      const h = policyHarness(name, "small");
      expect(h.driver.version).toBe(name);
      expect(h.driver).toBeInstanceOf(OUR_DRIVERS[name]!);
      h.runTo(ms(50));
      expect(h.driver.max).toBe(256);
      expect(h.driver.stats.rxPackets).toBeGreaterThan(100);
    },
  );
});
