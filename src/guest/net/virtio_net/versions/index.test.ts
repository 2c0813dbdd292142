import { describe, expect, it } from "vitest";
import { DRIVER_VERSIONS } from "../../../../scenario/schema.ts";
import { ms } from "../../../../sim/time.ts";
import { __GFP_NOWARN } from "../../../mm/gfp.ts";
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

describe("__GFP_NOWARN where the kernel passes it", () => {
  /** The gfp page_to_skb's data area is kmalloc'ed with. */
  const copyDataGfp = (name: string) =>
    (policyHarness(name, "mergeable").driver as unknown as { copySkbDataGfp(): number }).copySkbDataGfp();

  it("3.2's __alloc_skb warns; 6.1's kmalloc_reserve first try is __GFP_NOWARN", () => {
    for (const name of ["v3.2", "patch1", "rfc-v1"]) expect(copyDataGfp(name) & __GFP_NOWARN).toBe(0);
    expect(copyDataGfp("mainline") & __GFP_NOWARN).toBe(__GFP_NOWARN);
  });
});
