import { describe, expect, it } from "vitest";
import { type ScenarioIssue, ScenarioError } from "./errors.ts";
import { jsonSchema, parseScenario } from "./load.ts";
import {
  ALLOC_SITE_INDIRECT,
  ALLOC_SITE_TCP_COLLAPSE,
  ALLOC_SITE_TCP_SEND_ACK,
  ALLOC_SITE_TCP_SENDMSG,
  ALLOC_SITE_PAGE_TO_SKB,
  ALLOC_SITE_RX_PAGE,
  ALLOC_SITE_SMALL_SKB_DATA,
  ALLOC_SITE_SMALL_SKB_HEAD,
} from "../guest/net/mm-port.ts";
import {
  ALLOC_SITES,
  DRIVER_VERSIONS,
  defaultMinFreeKbytes,
  defaultTcpRmemMax,
  formatWarning,
  scenarioWarnings,
} from "./schema.ts";
import { parseDuration, parseSize } from "./units.ts";

/** The issues parseScenario reports for `input` (fails the test if it parses). */
function issuesOf(input: unknown): ScenarioIssue[] {
  try {
    parseScenario(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return [...(e as ScenarioError).issues];
  }
  throw new Error("expected the scenario to be rejected");
}

/** The single issue at `path`, checked to carry `value` and mention every `allowed` fragment. */
function expectIssue(input: unknown, path: string, value: unknown, ...allowed: string[]): ScenarioIssue {
  const issues = issuesOf(input);
  const hit = issues.find((i) => i.path === path);
  expect(hit, `no issue at ${path}; got ${JSON.stringify(issues)}`).toBeDefined();
  expect(hit!.value).toEqual(value);
  for (const a of allowed) expect(hit!.message).toContain(a);
  return hit!;
}

describe("defaults", () => {
  const s = parseScenario({});

  it("makes {} a complete scenario: the seed's small guest with one bulk flow", () => {
    expect(s.guest.vcpus).toBe(1);
    expect(s.guest.memory).toBe(parseSize("512MiB"));
    expect(s.guest.hz).toBe(250);
    expect(s.guest.driver.version).toBe("v3.2");
    expect(s.guest.driver.ringSize).toBe(256);
    expect(s.guest.driver.rxMode).toBe("small");
    expect(s.network.senders).toHaveLength(1);
    expect(s.network.senders[0]!.flow).toEqual({ kind: "bulk" });
    expect(s.apps.readers.map((r) => r.name)).toEqual(["reader0"]);
    expect(s.duration).toBe(parseDuration("30s"));
  });

  it("resolves 'auto' values with the kernel formulas", () => {
    // The comment table of init_per_zone_wmark_min: 512 MB → 2896 k, 64 MB → 1024 k, 1 GB → 4096 k.
    expect(s.guest.minFreeKbytes).toBe(2896);
    expect(defaultMinFreeKbytes(parseSize("64MiB"))).toBe(1024);
    expect(defaultMinFreeKbytes(parseSize("1GiB"))).toBe(4096);
    expect(defaultMinFreeKbytes(parseSize("64GiB"))).toBe(32768);
    expect(s.guest.tcp.rmem.max).toBe(defaultTcpRmemMax(s.guest.memory));
    expect(defaultTcpRmemMax(parseSize("64GiB"))).toBe(4 * 1024 * 1024);
    expect(s.guest.driver.napiWeight).toBe(128);
    expect(parseScenario({ guest: { driver: { version: "mainline" } } }).guest.driver.napiWeight).toBe(64);
    // Our policies are built on mainline and compared with it at its weight.
    for (const version of ["drop-recycle", "reserve-pool", "adaptive-retry", "page-recycle"] as const) {
      expect(parseScenario({ guest: { driver: { version } } }).guest.driver.napiWeight).toBe(64);
    }
    for (const version of ["patch1", "rfc-v1"] as const) {
      expect(parseScenario({ guest: { driver: { version } } }).guest.driver.napiWeight).toBe(128);
    }
    expect(s.network.senders[0]!.hystart).toBe(true);
    expect(s.host.qdiscLimit).toBe(s.host.tapQueueLen);
    expect(parseScenario({ host: { tapQueueLen: 1000 } }).host.qdiscLimit).toBe(1000);
  });

  it("takes the guest kernel era from the driver version unless told, and its TCP defaults", () => {
    const g = (guest: object) => parseScenario({ guest }).guest;
    expect(s.guest.kernel).toBe("3.2");
    for (const version of ["patch1", "rfc-v1"] as const)
      expect(g({ driver: { version } }).kernel).toBe("3.2");
    for (const version of [
      "mainline",
      "drop-recycle",
      "reserve-pool",
      "adaptive-retry",
      "page-recycle",
    ] as const)
      expect(g({ driver: { version } }).kernel).toBe("6.1");
    expect(g({ kernel: "6.1" }).kernel).toBe("6.1");
    expect(g({ kernel: "3.2", driver: { version: "mainline" } }).kernel).toBe("3.2");
    // YAML and --set read 3.2 and 6.1 as numbers.
    expect(g({ kernel: 6.1 }).kernel).toBe("6.1");
    expectIssue({ guest: { kernel: "5.4" } }, "guest.kernel", "5.4", '"auto", "3.2", "6.1"');
    // 512 MiB: 3.2 tcp_rmem 4096 87380 524288 (131072 pages / 8 << 5), adv_win_scale 2;
    // 6.1 tcp_rmem 4096 131072 4194304 (131072 pages << 5), adv_win_scale 1.
    expect([s.guest.tcp.rmem.default, s.guest.tcp.rmem.max, s.guest.tcp.advWinScale]).toEqual([
      87380, 524288, 2,
    ]);
    const t = g({ kernel: "6.1" }).tcp;
    expect([t.rmem.min, t.rmem.default, t.rmem.max, t.advWinScale]).toEqual([4096, 131072, 4194304, 1]);
    expect(defaultTcpRmemMax(parseSize("64GiB"), "6.1")).toBe(6 * 1024 * 1024);
    expect(defaultTcpRmemMax(parseSize("64MiB"), "6.1")).toBe(524288);
    // Explicit values win over the era's.
    const u = g({ kernel: "6.1", tcp: { advWinScale: 2, rmem: { default: "87380B" } } }).tcp;
    expect([u.advWinScale, u.rmem.default]).toEqual([2, 87380]);
    expect(s.guest.mm.watermarkScaleFactor).toBe(10);
    expectIssue(
      { guest: { mm: { watermarkScaleFactor: 3001 } } },
      "guest.mm.watermarkScaleFactor",
      3001,
      "1 to 3000",
    );
  });

  it("derives the rx mode from the features like virtnet_probe", () => {
    const mode = (features: object) => parseScenario({ guest: { driver: { features } } }).guest.driver.rxMode;
    expect(mode({ mrgRxbuf: true })).toBe("mergeable");
    expect(mode({ mrgRxbuf: true, guestTso4: true })).toBe("mergeable");
    expect(mode({ guestTso6: true })).toBe("big");
    expect(mode({ guestTso4: true, guestEcn: true })).toBe("big");
  });

  it("converts units to integers", () => {
    const t = parseScenario({
      duration: "1m",
      network: { uplink: { rate: "400MB/s" }, senders: [{ rtt: "1.5ms", rate: "10Mbps" }] },
    });
    expect(t.duration).toBe(60e9);
    expect(t.network.uplink.rate).toBe(3.2e9);
    expect(t.network.senders[0]!.rtt).toBe(1_500_000);
    expect(t.network.senders[0]!.rate).toBe(1e7);
  });

  it("gives every field a default that the JSON Schema publishes", () => {
    // Writing out the JSON Schema's defaults explicitly must give the same scenario as {}.
    const explicit = defaultsOf(jsonSchema());
    expect(parseScenario(explicit)).toEqual(s);
  });
});

/**
 * An input built from the `default`s of a JSON Schema, recursing into object properties; an
 * optional object with a field that has no default (guest.swap's size) stays absent.
 */
function defaultsOf(node: Record<string, unknown>): unknown {
  const props = node.properties as Record<string, Record<string, unknown>> | undefined;
  if (props === undefined) return node.default;
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(props)) {
    if (k === "extends") continue;
    const inner = p.properties as Record<string, Record<string, unknown>> | undefined;
    const needsInput = ((p.required as string[] | undefined) ?? []).some(
      (r) => inner?.[r]?.default === undefined,
    );
    const v = p.properties ? (needsInput ? undefined : defaultsOf(p)) : p.default;
    if (v !== undefined) out[k] = v;
  }
  return out;
}

describe("strictness", () => {
  it("rejects an unknown key at depth, naming its path and the allowed keys", () => {
    const i = expectIssue(
      { guest: { driver: { features: { mrgRxbuff: true } } } },
      "guest.driver.features.mrgRxbuff",
      true,
      'unknown key "mrgRxbuff"',
      'did you mean "mrgRxbuf"',
      "indirectDesc",
    );
    expect(i.message).toContain("allowed keys in guest.driver.features");
  });

  it("rejects unknown keys inside list items", () => {
    expectIssue({ network: { senders: [{}, { rtts: "5ms" }] } }, "network.senders[1].rtts", "5ms", "rtt");
  });

  it("reports inside the union branch the value was meant for", () => {
    expectIssue(
      { network: { senders: [{ flow: { bites: 1 } }] } },
      "network.senders[0].flow.bites",
      1,
      '"bytes"',
    );
    expectIssue(
      { network: { senders: [{ flow: { bytes: "1M" } }] } },
      "network.senders[0].flow.bytes",
      "1M",
      "MiB",
    );
    expectIssue({ network: { senders: [{ flow: 7 }] } }, "network.senders[0].flow", 7, '"bulk" or an object');
  });

  it("names path, value and what is allowed for wrong types", () => {
    expectIssue({ guest: { vcpus: "two" } }, "guest.vcpus", "two", "an integer from 1 to 64");
    expectIssue(
      { network: { senders: [{}, { rtt: 40 }] } },
      "network.senders[1].rtt",
      40,
      "a unit is required",
      "ms",
    );
    expectIssue({ guest: { memory: "512 megs" } }, "guest.memory", "512 megs", 'unknown unit "megs"', "MiB");
    expectIssue({ guest: "big" }, "guest", "big", "a mapping", "vcpus");
    expectIssue({ apps: { readers: { name: "x" } } }, "apps.readers", { name: "x" }, "a list");
    expectIssue(
      { guest: { driver: { version: "v3.3" } } },
      "guest.driver.version",
      "v3.3",
      '"patch1"',
      '"rfc-v1"',
    );
    expectIssue({ host: { oneQueue: "yes" } }, "host.oneQueue", "yes", "true or false");
  });

  it("names path, value and range for out-of-range values", () => {
    expectIssue({ guest: { vcpus: 65 } }, "guest.vcpus", 65, "from 1 to 64");
    expectIssue({ guest: { memory: "32MiB" } }, "guest.memory", "32MiB", "from 64MiB to 64GiB");
    expectIssue({ guest: { driver: { ringSize: 384 } } }, "guest.driver.ringSize", 384, "power of two");
    expectIssue({ guest: { driver: { ringSize: 65536 } } }, "guest.driver.ringSize", 65536, "32768");
    expectIssue({ guest: { hz: 300 } }, "guest.hz", 300, "100, 250, 1000");
    expectIssue(
      { guest: { minFreeKbytes: 64 } },
      "guest.minFreeKbytes",
      64,
      '"auto" or an integer from 128 to 65536',
    );
    expectIssue({ network: { senders: [{ loss: 0.9 }] } }, "network.senders[0].loss", 0.9, "from 0 to 0.5");
    expectIssue({ guest: { memory: "100001KiB" } }, "guest.memory", "100001KiB", "multiple of 4KiB");
  });

  it("reports a missing required list-item field", () => {
    const i = expectIssue(
      { faults: { linkOutages: [{ at: "1s" }] } },
      "faults.linkOutages[0].duration",
      undefined,
    );
    expect(i.message).toMatch(/^is required; must be a duration/);
  });

  it("reports every problem at once", () => {
    expect(issuesOf({ guest: { vcpus: 0, hz: 1 }, seed: -1 }).map((i) => i.path)).toEqual([
      "seed",
      "guest.vcpus",
      "guest.hz",
    ]);
  });

  it("formats a readable multi-line message", () => {
    const message = (() => {
      try {
        parseScenario({ guest: { vcpus: 0 } }, "my.yaml");
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(message).toBe(
      "invalid scenario my.yaml: 1 problem\n  - guest.vcpus = 0: must be an integer from 1 to 64",
    );
  });
});

describe("cross-field rules", () => {
  it("warm-up must be shorter than the run", () => {
    expectIssue({ duration: "10s", warmup: "10s" }, "warmup", "10s", "below duration (10s)");
  });

  it("an explicit rx mode must agree with the features", () => {
    expectIssue(
      { guest: { driver: { rxMode: "mergeable" } } },
      "guest.driver.rxMode",
      "mergeable",
      "mrgRxbuf: true",
    );
    expectIssue(
      { guest: { driver: { rxMode: "small", features: { guestTso4: true } } } },
      "guest.driver.rxMode",
      "small",
      '"auto" or "big"',
    );
    expect(
      parseScenario({ guest: { driver: { rxMode: "big", features: { guestTso4: true } } } }).guest.driver
        .rxMode,
    ).toBe("big");
  });

  it("feature bits need their prerequisites (VIRTIO 5.1.3.1)", () => {
    expectIssue(
      { guest: { driver: { features: { guestEcn: true } } } },
      "guest.driver.features.guestEcn",
      true,
      "guestTso4 or features.guestTso6",
    );
    expectIssue(
      { guest: { driver: { features: { guestTso6: true, guestCsum: false } } } },
      "guest.driver.features.guestTso6",
      true,
      "guestCsum",
    );
  });

  it("the ring must hold one buffer of direct descriptors", () => {
    expectIssue(
      { guest: { driver: { ringSize: 16, features: { guestTso4: true } } } },
      "guest.driver.ringSize",
      16,
      "at least 20 in big mode",
    );
    expect(parseScenario({ guest: { driver: { ringSize: 2 } } }).guest.driver.ringSize).toBe(2);
  });

  // guest.tcp.timestamps and rmem.min were refused here too until tcp_collapse (collapsed skbs'
  // headroom) and tcp_memory_pressure (sk_rmem_schedule's floor) gave them an effect.
  it("fields the model would ignore are not accepted", () => {
    for (const [raw, path, value] of [
      [{ network: { mtu: 1500 } }, "network.mtu", 1500],
      [{ metrics: { perFlowSeries: true } }, "metrics.perFlowSeries", true],
    ] as const) {
      expectIssue(raw, path, value, "unknown key");
    }
  });

  it("advWinScale stops where tcp_rcv_space_adjust's int loop would no longer end", () => {
    expectIssue({ guest: { tcp: { advWinScale: -21 } } }, "guest.tcp.advWinScale", -21, "from -20 to 31");
    expect(parseScenario({ guest: { tcp: { advWinScale: -20 } } }).guest.tcp.advWinScale).toBe(-20);
  });

  it("startJitter must leave the last flow's start inside the run", () => {
    expectIssue(
      {
        duration: "1s",
        warmup: "0s",
        network: { senders: [{ count: 2, stagger: "500ms", startJitter: "600ms" }] },
      },
      "network.senders[0].startJitter",
      "600ms",
      "after the run ends",
    );
    expect(
      parseScenario({ duration: "1s", warmup: "0s", network: { senders: [{ startJitter: "1s" }] } }).network
        .senders[0]!.startJitter,
    ).toBe(1e9);
  });

  it("CPUs must exist", () => {
    expectIssue({ guest: { driver: { irqCpu: 1 } } }, "guest.driver.irqCpu", 1, "below guest.vcpus (1)");
    expectIssue(
      { apps: { readers: [{ cpu: 2 }] }, guest: { vcpus: 2 } },
      "apps.readers[0].cpu",
      2,
      "below guest.vcpus (2)",
    );
  });

  it("outages lie inside the run, on known links, without overlapping", () => {
    const outages = (linkOutages: object[]) => ({ duration: "10s", faults: { linkOutages } });
    expectIssue(
      outages([{ at: "9s", duration: "2s" }]),
      "faults.linkOutages[0].duration",
      "2s",
      "within the run",
    );
    expectIssue(
      outages([
        { at: "1s", duration: "2s" },
        { at: "2s", duration: "1s" },
      ]),
      "faults.linkOutages[1].at",
      "2s",
      "overlaps faults.linkOutages[0] (1s to 3s)",
    );
    // Back-to-back outages and outages on different links do not overlap.
    parseScenario(
      outages([
        { at: "1s", duration: "1s" },
        { at: "2s", duration: "1s" },
        { at: "1s", duration: "1s", link: "senders0" },
      ]),
    );
    expectIssue(
      outages([{ at: "1s", duration: "1s", link: "wan" }]),
      "faults.linkOutages[0].link",
      "wan",
      "senders0",
    );
  });

  it("readers named by senders must exist and names must be unique", () => {
    expectIssue(
      { network: { senders: [{ reader: "torrent" }] } },
      "network.senders[0].reader",
      "torrent",
      "reader0",
    );
    expectIssue({ apps: { readers: [{ name: "a" }, { name: "a" }] } }, "apps.readers[1].name", "a", "unique");
    expectIssue(
      { network: { senders: [{ name: "uplink" }] } },
      "network.senders[0].name",
      "uplink",
      "reserved",
    );
    expectIssue({ apps: { readers: [] } }, "apps.readers", [], "at least one reader");
  });

  it("staggered flows must all open before the run ends", () => {
    expectIssue(
      { duration: "10s", network: { senders: [{ count: 11, stagger: "1s" }] } },
      "network.senders[0].stagger",
      "1s",
      "open at 10s",
    );
  });

  it("base and readers' memory must fit in memory minus min_free_kbytes", () => {
    expectIssue(
      { guest: { memory: "256MiB", baseMemory: "200MiB" }, apps: { readers: [{ memory: "60MiB" }] } },
      "guest.memory",
      "256MiB",
      "readers' memory 60MiB exceed",
    );
  });

  it("hogs and spikes beyond memory are accepted with a warning of the expected OOM kill", () => {
    const base = {
      guest: { memory: "256MiB", baseMemory: "48MiB" },
      apps: { readers: [{ memory: "8MiB" }] },
    };
    // 256 MiB - 2048 KiB = 254 MiB; 48 + 8 + 198 fits exactly, one more MiB does not.
    expect(
      scenarioWarnings(parseScenario({ ...base, apps: { ...base.apps, memoryHogs: [{ size: "198MiB" }] } })),
    ).toEqual([]);
    const over = parseScenario({
      ...base,
      apps: { ...base.apps, memoryHogs: [{ size: "199MiB", at: "1s" }] },
    });
    const [w, ...rest] = scenarioWarnings(over);
    expect(rest).toEqual([]);
    expect(w).toMatchObject({ path: "apps.memoryHogs[0].size", value: "199MiB" });
    expect(w!.message).toContain("at 1s anonymous memory would reach 255MiB");
    expect(w!.message).toContain("= 254MiB");
    expect(w!.message).toContain("OOM killer");
    expect(formatWarning(w!)).toMatch(/^apps\.memoryHogs\[0\]\.size = 199MiB: at 1s/);
    // A spike counts only while it is held: two spikes in turn fit where two at once do not.
    const spikes = (second: string) =>
      parseScenario({
        ...base,
        faults: {
          memorySpikes: [
            { at: "1s", size: "100MiB", duration: "1s" },
            { at: second, size: "100MiB", duration: "1s" },
          ],
        },
      });
    expect(scenarioWarnings(spikes("2s"))).toEqual([]);
    expect(scenarioWarnings(spikes("1500ms"))[0]).toMatchObject({ path: "faults.memorySpikes[1].size" });
    expect(scenarioWarnings(spikes("1500ms"))[0]!.message).toContain("at 1.5s");
  });

  it("guest.swap is absent by default, and counts towards the memory that hogs may take", () => {
    expect(parseScenario({}).guest.swap).toBeUndefined();
    const swap = parseScenario({ guest: { swap: { size: "64MiB" } } }).guest.swap!;
    expect(swap).toEqual({ size: parseSize("64MiB"), bandwidth: 800e6, latency: parseDuration("5ms") });
    const hogs = { readers: [{ memory: "8MiB" }], memoryHogs: [{ size: "250MiB" }] };
    const guest = { memory: "256MiB", baseMemory: "48MiB" };
    expect(scenarioWarnings(parseScenario({ guest, apps: hogs }))).toHaveLength(1);
    expect(
      scenarioWarnings(parseScenario({ guest: { ...guest, swap: { size: "64MiB" } }, apps: hogs })),
    ).toEqual([]);
    expectIssue({ guest: { swap: { bandwidth: "1MB/s" } } }, "guest.swap.size", undefined, "is required");
  });

  it("hog restart, touchRate and oomScoreAdj: defaults and bounds", () => {
    const h = parseScenario({ apps: { memoryHogs: [{ size: "1MiB" }] } }).apps.memoryHogs[0]!;
    expect(h.touchRate).toBe(0);
    expect(h.oomScoreAdj).toBe(0);
    expect(h.restart).toBeUndefined();
    const r = parseScenario({ apps: { memoryHogs: [{ size: "1MiB", restart: {} }] } }).apps.memoryHogs[0]!;
    expect(r.restart).toEqual({ delay: parseDuration("1s") });
    expectIssue(
      { apps: { memoryHogs: [{ size: "1MiB", oomScoreAdj: -1001 }] } },
      "apps.memoryHogs[0].oomScoreAdj",
      -1001,
      "from -1000 to 1000",
    );
    expectIssue(
      { apps: { memoryHogs: [{ size: "1MiB", restart: { count: 0 } }] } },
      "apps.memoryHogs[0].restart.count",
      0,
      "from 1",
    );
    expectIssue(
      { apps: { memoryHogs: [{ size: "1MiB", touchRate: 1.5 }] } },
      "apps.memoryHogs[0].touchRate",
      1.5,
      "integer",
    );
  });

  it("shows defaulted values when a rule involves a field that was not written", () => {
    const i = expectIssue({ duration: "1s" }, "warmup", "2s", "below duration (1s)");
    expect(i.defaulted).toBe(true);
  });

  it("does not run cross-field rules on invalid fields (no cascades)", () => {
    expect(issuesOf({ guest: { vcpus: 0 }, warmup: "1h" }).map((i) => i.path)).toEqual(["guest.vcpus"]);
  });
});

describe("jsonSchema", () => {
  const schema = jsonSchema();

  /** Every object node of a JSON Schema, with its JSON pointer. */
  function* objects(node: unknown, at = "#"): Generator<[string, Record<string, unknown>]> {
    if (Array.isArray(node)) {
      for (const [i, n] of node.entries()) yield* objects(n, `${at}/${i}`);
    } else if (node !== null && typeof node === "object") {
      const o = node as Record<string, unknown>;
      if (o.type === "object") yield [at, o];
      for (const [k, v] of Object.entries(o)) if (k !== "default") yield* objects(v, `${at}/${k}`);
    }
  }

  it("is plain JSON", () => {
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.title).toBe("vnetlab scenario");
  });

  it("closes every object and documents every property", () => {
    const seen = [...objects(schema)];
    expect(seen.length).toBeGreaterThan(20);
    for (const [at, o] of seen) {
      expect(o.additionalProperties, at).toBe(false);
      for (const [k, p] of Object.entries(o.properties as Record<string, Record<string, unknown>>)) {
        expect(typeof p.description, `${at}/properties/${k}`).toBe("string");
      }
    }
  });

  it("publishes input forms: units as strings with defaults, the driver list, extends", () => {
    const props = schema.properties as Record<string, Record<string, unknown>>;
    expect(props.duration).toMatchObject({ type: "string", default: "30s" });
    expect(props.extends).toMatchObject({ type: "string" });
    const guest = props.guest!.properties as Record<string, Record<string, unknown>>;
    const driver = guest.driver!.properties as Record<string, Record<string, unknown>>;
    expect(driver.version!.enum).toEqual([...DRIVER_VERSIONS]);
  });
});

describe("faults.alloc", () => {
  const injector = (f: object, duration = "10s") => ({ duration, faults: { alloc: [f] } });

  it("takes the kernel's defaults and requires the probability", () => {
    const [f] = parseScenario(injector({ probability: 10 })).faults.alloc;
    expect(f).toEqual({
      type: "fail_page_alloc",
      probability: 10,
      interval: 1,
      times: 1,
      space: 0,
      ignoreGfpWait: true,
      sites: "any",
      context: "any",
      at: 0,
    });
    expectIssue(injector({}), "faults.alloc[0].probability", undefined, "is required", "0 to 100");
    expectIssue(injector({ probability: 101 }), "faults.alloc[0].probability", 101, "0 to 100");
  });

  it("names the sites and contexts it allows", () => {
    const sites = injector({ probability: 1, sites: ["rx_page", "skb"] });
    expectIssue(sites, "faults.alloc[0].sites[1]", "skb", ...ALLOC_SITES.map((s) => `"${s}"`));
    expectIssue(injector({ probability: 1, sites: [] }), "faults.alloc[0].sites", [], "at least one site");
    expectIssue(injector({ probability: 1, context: "irq" }), "faults.alloc[0].context", "irq", '"softirq"');
  });

  it("keeps fail_page_alloc's own attributes off failslab", () => {
    const slab = (key: string) => injector({ type: "failslab", probability: 1, [key]: 0 });
    expectIssue(slab("minOrder"), "faults.alloc[0].minOrder", 0, "fail_page_alloc only");
    expectIssue(slab("ignoreGfpHighmem"), "faults.alloc[0].ignoreGfpHighmem", 0, "true or false");
    expect(() => parseScenario(injector({ probability: 1, minOrder: 0 }))).not.toThrow();
  });

  it("keeps the window inside the run", () => {
    expectIssue(injector({ probability: 1, at: "10s" }), "faults.alloc[0].at", "10s", "below duration");
    const late = injector({ probability: 1, at: "9s", duration: "2s" });
    expectIssue(late, "faults.alloc[0].duration", "2s", "must end within the run");
  });

  it("lists the sites in the order of mm-port's ALLOC_SITE_* bits", () => {
    expect([
      ALLOC_SITES[ALLOC_SITE_SMALL_SKB_HEAD],
      ALLOC_SITES[ALLOC_SITE_SMALL_SKB_DATA],
      ALLOC_SITES[ALLOC_SITE_RX_PAGE],
      ALLOC_SITES[ALLOC_SITE_PAGE_TO_SKB],
      ALLOC_SITES[ALLOC_SITE_INDIRECT],
      ALLOC_SITES[ALLOC_SITE_TCP_COLLAPSE],
      ALLOC_SITES[ALLOC_SITE_TCP_SEND_ACK],
      ALLOC_SITES[ALLOC_SITE_TCP_SENDMSG],
    ]).toEqual([
      "small_skb_head",
      "small_skb_data",
      "rx_page",
      "page_to_skb",
      "indirect",
      "tcp_collapse",
      "tcp_send_ack",
      "tcp_sendmsg",
    ]);
    expect(ALLOC_SITES).toHaveLength(8);
  });
});

describe("apps.readers[].torrent", () => {
  const reader = (torrent: Record<string, unknown>) => ({ apps: { readers: [{ torrent }] } });

  it("defaults to BEP 3 blocks, 256 KiB pieces and libtorrent's 256 KiB disk queue", () => {
    const t = parseScenario(reader({})).apps.readers[0]!.torrent!;
    expect(t).toEqual({
      size: 4 * 2 ** 30,
      pieceSize: 256 << 10,
      blockSize: 16 << 10,
      queue: 256 << 10,
      uploadPeers: 0,
      uploadRate: "unlimited",
    });
    expect(parseScenario({}).apps.readers[0]!.torrent).toBeUndefined();
  });

  it("needs blocks of whole pages, pieces of whole blocks, content of whole pieces and a queue of a block", () => {
    expectIssue(reader({ blockSize: "6KiB" }), "apps.readers[0].torrent.blockSize", "6KiB", "4KiB");
    expectIssue(
      reader({ pieceSize: "40KiB" }),
      "apps.readers[0].torrent.pieceSize",
      "40KiB",
      "blockSize (16KiB)",
    );
    expectIssue(reader({ size: "1000KiB" }), "apps.readers[0].torrent.size", "1000KiB", "pieceSize (256KiB)");
    expectIssue(reader({ queue: "8KiB" }), "apps.readers[0].torrent.queue", "8KiB", "one block (16KiB)");
  });

  it("takes upload slots as a count and the upload rate limit as a rate or 'unlimited'", () => {
    const t = parseScenario(reader({ uploadPeers: 3, uploadRate: "2Mbit/s" })).apps.readers[0]!.torrent!;
    expect([t.uploadPeers, t.uploadRate]).toEqual([3, 2e6]);
    expectIssue(reader({ uploadPeers: 1001 }), "apps.readers[0].torrent.uploadPeers", 1001, "1000");
    expectIssue(reader({ uploadPeers: -1 }), "apps.readers[0].torrent.uploadPeers", -1, "0");
    expectIssue(reader({ uploadPeers: 1.5 }), "apps.readers[0].torrent.uploadPeers", 1.5);
    expectIssue(reader({ uploadRate: "fast" }), "apps.readers[0].torrent.uploadRate", "fast", '"unlimited"');
    expectIssue(
      reader({ uploadRate: "1kbit/s" }),
      "apps.readers[0].torrent.uploadRate",
      "1kbit/s",
      "8kbit/s",
    );
  });
});
