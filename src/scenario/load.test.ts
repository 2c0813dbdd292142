import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import YAML from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { ScenarioError } from "./errors.ts";
import { expandFlows } from "./flows.ts";
import {
  loadScenario,
  loadScenarioFile,
  parseScenario,
  readScenario,
  readScenarioFile,
  scenarioHash,
} from "./load.ts";
import { applyOverrides, parsePath } from "./overrides.ts";
import { listPresets, PRESET_NAMES, presetText } from "./presets.ts";
import { parseSize } from "./units.ts";

const dir = mkdtempSync(join(tmpdir(), "vnetlab-scenario-"));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** The ScenarioError `f` throws. */
function errorOf(f: () => unknown): ScenarioError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return e as ScenarioError;
  }
  throw new Error("expected a ScenarioError");
}

describe("presets", () => {
  it("ship one commented YAML file per listed name", () => {
    const files = readdirSync(fileURLToPath(new URL("./presets/", import.meta.url))).sort();
    expect(files).toEqual(PRESET_NAMES.map((n) => `${n}.yaml`).sort());
    for (const name of PRESET_NAMES) expect(presetText(name)).toMatch(/^# /);
  });

  it.each(PRESET_NAMES)("%s parses, is named after its file and has a description", (name) => {
    const s = loadScenario(name);
    expect(s.name).toBe(name);
    expect(s.description.length).toBeGreaterThan(20);
  });

  it("lists names with descriptions", () => {
    const list = listPresets();
    expect(list.map((p) => p.name)).toEqual([...PRESET_NAMES]);
    for (const p of list) expect(p.description).toBe(loadScenario(p.name).description.trim());
  });

  it("the variants differ from seed-torrent in their receive mode", () => {
    const base = loadScenario("seed-torrent");
    expect(base.guest.driver.rxMode).toBe("small");
    expect(loadScenario("seed-torrent-mergeable").guest.driver.rxMode).toBe("mergeable");
    expect(loadScenario("seed-torrent-big").guest.driver.rxMode).toBe("big");
    const strip = (s: typeof base) => ({
      ...s,
      name: "",
      description: "",
      guest: { ...s.guest, driver: null },
    });
    expect(strip(loadScenario("seed-torrent-big"))).toEqual(strip(base));
  });

  it("seed-torrent's torrent clients write to a disk slower than the network from 100+ peers", () => {
    const s = loadScenario("seed-torrent");
    expect(s.apps.disk.bandwidth).toBeLessThan(s.network.uplink.rate);
    // Torrent mode always writes (its disk thread), whatever writeToDisk says.
    expect(s.apps.readers.every((r) => r.torrent !== undefined)).toBe(true);
    expect(s.network.senders.reduce((n, g) => n + g.count, 0)).toBeGreaterThanOrEqual(100);
  });

  it("load from any working directory", () => {
    const cwd = process.cwd();
    try {
      process.chdir(tmpdir());
      expect(loadScenario("outage").name).toBe("outage");
    } finally {
      process.chdir(cwd);
    }
  });
});

describe("files", () => {
  it("reads YAML and JSON", () => {
    const y = file("a.yaml", "# comment\nguest:\n  memory: 256MiB\n");
    const j = file("a.json", JSON.stringify({ guest: { memory: "256MiB" } }));
    expect(loadScenarioFile(y)).toEqual(loadScenarioFile(j));
    expect(loadScenarioFile(y).guest.memory).toBe(parseSize("256MiB"));
  });

  it("treats an empty file as all defaults", () => {
    expect(loadScenarioFile(file("empty.yaml", ""))).toEqual(parseScenario({}));
  });

  it("reports syntax errors and duplicate keys with the file name", () => {
    const e = errorOf(() => loadScenarioFile(file("bad.yaml", "guest: [1, 2\n")));
    expect(e.message).toContain("bad.yaml");
    expect(e.issues[0]!.message).toMatch(/^is not valid YAML/);
    expect(errorOf(() => loadScenarioFile(file("dup.yaml", "seed: 1\nseed: 2\n"))).message).toContain(
      'seed: duplicate key "seed": written at line 1, column 1 and again at line 2, column 1',
    );
  });

  it("names the file in validation errors", () => {
    const path = file("range.yaml", "guest:\n  vcpus: 0\n");
    expect(errorOf(() => loadScenarioFile(path)).message).toBe(
      `invalid scenario ${path}: 1 problem\n  - guest.vcpus = 0: must be an integer from 1 to 64`,
    );
  });

  it("resolves names: preset, then file, else a listing of presets", () => {
    expect(readScenario("outage").origin).toBe("preset outage");
    const path = file("named.yaml", "name: named\n");
    expect(loadScenario(path).name).toBe("named");
    expect(errorOf(() => loadScenario("no-such-thing")).issues[0]!.message).toContain("seed-torrent");
  });
});

describe("extends", () => {
  it("starts from a preset; objects merge, lists replace", () => {
    const path = file(
      "ext.yaml",
      "extends: seed-torrent\nname: mine\nguest:\n  memory: 384MiB\nnetwork:\n  senders:\n    - { count: 2 }\n",
    );
    const s = loadScenarioFile(path);
    const base = loadScenario("seed-torrent");
    expect(s.name).toBe("mine");
    expect(s.guest.memory).toBe(parseSize("384MiB"));
    expect(s.guest.driver).toEqual(base.guest.driver);
    expect(s.network.senders.map((g) => g.count)).toEqual([2]);
    expect(s.apps).toEqual(base.apps);
  });

  it("follows relative files and reports cycles", () => {
    file("base.yaml", "seed: 7\n");
    expect(loadScenarioFile(file("child.yaml", "extends: base.yaml\n")).seed).toBe(7);
    file("loop-a.yaml", "extends: loop-b.yaml\n");
    const b = file("loop-b.yaml", "extends: loop-a.yaml\n");
    expect(errorOf(() => loadScenarioFile(b)).issues[0]!.message).toContain("forms a cycle");
  });

  it("reads only regular .yaml/.yml/.json files inside the top-level scenario's directory", () => {
    const top = mkdtempSync(join(dir, "tree-"));
    const at = (name: string, text: string) => {
      const path = join(top, name);
      writeFileSync(path, text);
      return path;
    };
    const refused = (target: string) =>
      errorOf(() => readScenarioFile(at("top.yaml", `extends: ${JSON.stringify(target)}\n`))).issues[0]!;
    expect(refused("/dev/zero").message).toContain("not an absolute path");
    expect(refused("/etc/passwd").message).toContain("not an absolute path");
    expect(refused("/proc/self/environ").message).toContain("not an absolute path");
    expect(refused("../../../../../../../etc/hostname").message).toContain(".yaml, .yml or .json");
    const outside = file("outside.yaml", "seed: 9\n");
    const escaped = refused(relative(top, outside));
    expect(escaped.path).toBe("extends");
    expect(escaped.message).toContain("outside");
    expect(escaped.message).toContain("--allow-extends");
    symlinkSync(outside, join(top, "link.yaml"));
    expect(refused("link.yaml").message).toContain(`resolves to ${realpathSync(outside)}, outside`);
    symlinkSync("/dev/zero", join(top, "zero.yaml"));
    expect(refused("zero.yaml").message).toContain("kernel pseudo-file");
    execFileSync("mkfifo", [join(top, "fifo.yaml")]);
    expect(refused("fifo.yaml").message).toContain("not a regular file");
    at("list.yaml", "- 1\n- 2\n");
    expect(refused("list.yaml").message).toContain("not a mapping");
    at("text.json", '"just a string"');
    expect(refused("text.json").message).toContain("not a mapping");
    at("big.yaml", `description: "${"x".repeat(2 * 1024 * 1024)}"\n`);
    expect(refused("big.yaml").message).toContain("at most 1048576");
    // --allow-extends opens another tree.
    const ok = at("ok.yaml", `extends: ${JSON.stringify(relative(top, outside))}\n`);
    expect(readScenarioFile(ok, { allowExtends: [dirname(outside)] })).toEqual({ seed: 9 });
    at("sub.yml", "seed: 4\n");
    expect(readScenarioFile(at("in.yaml", "extends: sub.yml\n"))).toEqual({ seed: 4 });
  });

  it("refuses a top-level file that is not a regular file", () => {
    expect(errorOf(() => readScenario("/dev/zero")).issues[0]!.message).toContain("not a regular file");
  });

  it("accepts presets in parseScenario too", () => {
    expect(parseScenario({ extends: "iperf-lowmem", seed: 3 }).guest.memory).toBe(parseSize("256MiB"));
  });
});

describe("scenario identity", () => {
  it("compares values by meaning: one size in two spellings is one scenario", () => {
    expect(scenarioHash(parseScenario({ guest: { memory: "512MiB" } }))).toBe(
      scenarioHash(parseScenario({ guest: { memory: "536870912B" } })),
    );
    expect(scenarioHash(parseScenario({ duration: "1m" }))).toBe(
      scenarioHash(parseScenario({ duration: "60s" })),
    );
  });
});

describe("overrides", () => {
  it("set values parsed as YAML scalars, creating what is missing", () => {
    const raw = applyOverrides({ guest: { vcpus: 2 } }, [
      "guest.memory=256MiB",
      "guest.driver.version=patch1",
      "guest.driver.features.mrgRxbuf=true",
      "guest.tcp.advWinScale=1",
      "apps.memoryHogs[0].size=64MiB",
      "network.senders.0.rtt=40ms",
    ]);
    expect(raw).toEqual({
      guest: {
        vcpus: 2,
        memory: "256MiB",
        driver: { version: "patch1", features: { mrgRxbuf: true } },
        tcp: { advWinScale: 1 },
      },
      apps: { memoryHogs: [{ size: "64MiB" }] },
      network: { senders: [{ rtt: "40ms" }] },
    });
    const s = parseScenario(raw);
    expect(s.guest.driver.rxMode).toBe("mergeable");
    expect(s.apps.memoryHogs[0]!.size).toBe(parseSize("64MiB"));
  });

  it("leave the input untouched", () => {
    const raw = { guest: { vcpus: 2 } };
    applyOverrides(raw, ["guest.vcpus=4"]);
    expect(raw).toEqual({ guest: { vcpus: 2 } });
  });

  it("replace a scalar by an object when a key below it is set", () => {
    const s = parseScenario(
      applyOverrides({ network: { senders: [{ flow: "bulk" }] } }, ["network.senders[0].flow.bytes=1MB"]),
    );
    expect(s.network.senders[0]!.flow).toEqual({ kind: "sized", bytes: 1e6 });
  });

  it("reject paths outside the schema, listing the valid keys", () => {
    const e = errorOf(() =>
      applyOverrides({}, ["guest.driver.verison=patch1", "host.backend.x=1", "seed[0]=1"]),
    );
    expect(e.issues.map((i) => i.path)).toEqual(["guest.driver.verison", "host.backend.x", "seed[0]"]);
    expect(e.issues[0]!.message).toContain('did you mean "version"');
    expect(e.issues[0]!.message).toContain("valid keys in guest.driver: version, rxMode, ringSize");
    expect(e.issues[1]!.message).toContain("single value");
    expect(e.issues[2]!.message).toContain("not a list");
  });

  it("reject malformed assignments and indexes past the end", () => {
    const e = errorOf(() => applyOverrides({}, ["seed", "=1", "apps.readers[1].cpu=0", "seed=[1"]));
    expect(e.issues.map((i) => i.message.slice(0, 20))).toEqual([
      "expected path=value,",
      "is not a path; write",
      "index 1 is past the ",
      "is not valid YAML: F",
    ]);
  });

  it("leave value errors to validation, which names the path", () => {
    const raw = applyOverrides({}, ["guest.hz=300"]);
    expect(errorOf(() => parseScenario(raw)).issues[0]).toMatchObject({ path: "guest.hz", value: 300 });
  });

  it("work through loadScenario", () => {
    expect(loadScenario("seed-torrent", ["guest.memory=1GiB"]).guest.minFreeKbytes).toBe(4096);
  });

  it("parse paths", () => {
    expect(parsePath("network.senders[1].rtt")).toEqual(["network", "senders", 1, "rtt"]);
    expect(parsePath("a[0][1]")).toEqual(["a", 0, 1]);
    expect(parsePath("a.-b")).toBeUndefined();
  });
});

describe("scenarioHash", () => {
  /** A deep copy with object keys in reverse order. */
  const reversed = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(reversed)
      : v !== null && typeof v === "object"
        ? Object.fromEntries(
            Object.entries(v)
              .reverse()
              .map(([k, x]) => [k, reversed(x)]),
          )
        : v;

  it("is stable under key order", () => {
    const raw = YAML.parse(presetText("seed-torrent")) as unknown;
    const a = parseScenario(raw);
    expect(scenarioHash(parseScenario(reversed(raw)))).toBe(scenarioHash(a));
    // The resolved object itself with its keys reordered (as a consumer might rebuild it).
    const b = reversed(a) as typeof a;
    expect(Object.keys(b)).not.toEqual(Object.keys(a));
    expect(scenarioHash(b)).toBe(scenarioHash(a));
    expect(scenarioHash(a)).toMatch(/^[0-9a-f]{16}$/);
  });

  it("depends on the resolved values, not on how they were written", () => {
    expect(scenarioHash(parseScenario({ duration: "1m" }))).toBe(
      scenarioHash(parseScenario({ duration: "60000ms" })),
    );
    expect(scenarioHash(parseScenario({ guest: { minFreeKbytes: 2896 } }))).toBe(
      scenarioHash(parseScenario({})),
    );
  });

  it("changes with any field", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1_000_000 }), (seed) => {
        expect(scenarioHash(parseScenario({ seed }))).not.toBe(scenarioHash(parseScenario({ seed: 1 })));
      }),
      { numRuns: 50 },
    );
  });
});

describe("expandFlows", () => {
  it("deals 'auto' flows round-robin and honours named readers", () => {
    const s = parseScenario({
      network: {
        senders: [{ count: 3, stagger: "10ms", start: "1s" }, { count: 2, reader: "b" }, { count: 2 }],
      },
      apps: { readers: [{ name: "a" }, { name: "b" }] },
    });
    const flows = expandFlows(s);
    expect(flows.map((f) => f.reader)).toEqual([0, 1, 0, 1, 1, 1, 0]);
    expect(flows.map((f) => f.start).slice(0, 3)).toEqual([1e9, 1.01e9, 1.02e9]);
    expect(flows.map((f) => f.id)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("gives seed-torrent's clients forty peers each", () => {
    const counts = [0, 0, 0, 0];
    for (const f of expandFlows(loadScenario("seed-torrent"))) counts[f.reader]!++;
    expect(counts).toEqual([40, 40, 40, 40]);
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
