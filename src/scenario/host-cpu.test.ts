/** host.cpu (src/host/pcpu.ts): defaults and the rules that tie it to the guest's vCPUs. */
import { describe, expect, it } from "vitest";
import { ScenarioError } from "./errors.ts";
import { parseScenario } from "./load.ts";
import { parseDuration } from "./units.ts";

function issueAt(input: unknown, path: string): { value: unknown; message: string } {
  try {
    parseScenario(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    const hit = (e as ScenarioError).issues.find((i) => i.path === path);
    expect(hit, `no issue at ${path}: ${JSON.stringify((e as ScenarioError).issues)}`).toBeDefined();
    return hit!;
  }
  throw new Error("expected the scenario to be rejected");
}

const cpu = (c: object, extra: object = {}) => ({ host: { cpu: c }, ...extra });

describe("host.cpu", () => {
  it("defaults to a pCPU per vCPU, vhost on its own, no co-tenant and no outage", () => {
    const c = parseScenario({}).host.cpu;
    expect(c).toEqual({
      vcpuPcpus: [],
      vhostPcpu: "own",
      schedLatency: parseDuration("24ms"),
      coTenants: [],
      vcpuOutages: [],
    });
  });

  it("fills a co-tenant's burst defaults", () => {
    const t = parseScenario(cpu({ coTenants: [{ utilisation: 0.3 }] })).host.cpu.coTenants[0]!;
    expect(t).toEqual({
      pcpu: 0,
      utilisation: 0.3,
      burst: { distribution: "exponential", mean: parseDuration("10ms"), sigma: 1 },
      sharing: "cfs",
    });
  });

  it("rejects bad values with their path and what is allowed", () => {
    const u = issueAt(cpu({ coTenants: [{ utilisation: 1 }] }), "host.cpu.coTenants[0].utilisation");
    expect(u.message).toContain("from 0 to below 1");
    expect(issueAt(cpu({ coTenants: [{}] }), "host.cpu.coTenants[0].utilisation").message).toContain(
      "below 1",
    );
    expect(issueAt(cpu({ vhostPcpu: "mine" }), "host.cpu.vhostPcpu").message).toContain('"own" or');
    const d = issueAt(
      cpu({ coTenants: [{ utilisation: 0.1, burst: { distribution: "pareto" } }] }),
      "host.cpu.coTenants[0].burst.distribution",
    );
    expect(d.message).toContain('"lognormal"');
  });

  it("ties placement, co-tenants and outages to the guest's vCPUs", () => {
    const two = { guest: { vcpus: 2 } };
    expect(issueAt(cpu({ vcpuPcpus: [3] }, two), "host.cpu.vcpuPcpus").message).toContain(
      "one pCPU per vCPU (guest.vcpus = 2)",
    );
    expect(issueAt(cpu({ vcpuPcpus: [3, 3] }, two), "host.cpu.vcpuPcpus[1]").message).toContain(
      "vCPU 0's pCPU",
    );
    expect(
      issueAt(cpu({ coTenants: [{ pcpu: 1, utilisation: 0.2 }] }), "host.cpu.coTenants[0].pcpu").message,
    ).toContain("a pCPU a vCPU runs on: 0");
    expect(
      issueAt(cpu({ coTenants: [{ utilisation: 0.2 }, { utilisation: 0.1 }] }), "host.cpu.coTenants[1].pcpu")
        .message,
    ).toContain("coTenants[0] already loads pCPU 0");
    expect(
      issueAt(cpu({ vcpuOutages: [{ vcpu: 1, at: "1s", duration: "1ms" }] }), "host.cpu.vcpuOutages[0].vcpu")
        .message,
    ).toContain("below guest.vcpus (1)");
    expect(
      issueAt(
        cpu({ vcpuOutages: [{ at: "9s", duration: "2s" }] }, { duration: "10s" }),
        "host.cpu.vcpuOutages[0].duration",
      ).message,
    ).toContain("within the run");
    // Placed explicitly, a co-tenant follows the vCPU to its pCPU.
    parseScenario(cpu({ vcpuPcpus: [5, 2], vhostPcpu: 5, coTenants: [{ pcpu: 2, utilisation: 0.5 }] }, two));
  });
});
