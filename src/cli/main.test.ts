import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_OK, EXIT_USAGE, main } from "./main.ts";
import { capture } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "vnetlab-cli-"));
const small = join(dir, "small.yaml");
writeFileSync(
  small,
  [
    "name: small",
    "duration: 1s",
    "warmup: 100ms",
    "guest: { memory: 256MiB }",
    "network: { senders: [{ count: 2, rtt: 20ms, rate: 50Mbit/s }] }",
    "",
  ].join("\n"),
);

describe("vnetlab CLI", () => {
  it("validate rejects a broken file with a path-qualified message and exit 2", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(
      bad,
      "guest:\n  vcpus: 0\n  driver: { ringSize: 300 }\nnetwork: { senders: [{ rtt: fast }] }\n",
    );
    const io = capture();
    expect(await main(["validate", bad], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain("guest.vcpus");
    expect(io.stderr).toContain("guest.driver.ringSize");
    expect(io.stderr).toContain("network.senders[0].rtt");
    expect(io.stdout).toBe("");
  });

  it("validate accepts a good file", async () => {
    const io = capture();
    expect(await main(["validate", small], io)).toBe(EXIT_OK);
    expect(io.stdout).toContain("valid");
  });

  it("validate and run accept a hog beyond memory and warn on stderr of the expected OOM kill", async () => {
    const hog = "apps.memoryHogs=[{size: 300MiB, at: 200ms}]";
    const io = capture();
    expect(await main(["validate", small, "--set", hog], io)).toBe(EXIT_OK);
    expect(io.stdout).toContain("valid");
    expect(io.stderr).toMatch(
      /^vnetlab: warning: apps\.memoryHogs\[0\]\.size = 300MiB: at 200ms .*OOM killer/,
    );
    const r = capture();
    expect(await main(["run", small, "--set", hog, "--json"], r)).toBe(EXIT_OK);
    expect(r.stderr).toContain("vnetlab: warning: apps.memoryHogs[0].size");
    const summary = JSON.parse(r.stdout);
    expect(summary.warnings[0].path).toBe("apps.memoryHogs[0].size");
    expect(summary.memory.oomKills).toBeGreaterThan(0);
  });

  it("lists presets and prints a JSON Schema", async () => {
    const io = capture();
    expect(await main(["presets", "--json"], io)).toBe(EXIT_OK);
    const names = (JSON.parse(io.stdout) as { name: string }[]).map((p) => p.name);
    expect(names).toContain("seed-torrent");
    const io2 = capture();
    expect(await main(["schema"], io2)).toBe(EXIT_OK);
    expect(JSON.parse(io2.stdout)).toHaveProperty("properties.guest");
  });

  it("run --json prints one object with the promised fields", async () => {
    const io = capture();
    expect(await main(["run", small, "--json", "--driver", "patch1", "--seed", "5"], io)).toBe(EXIT_OK);
    const r = JSON.parse(io.stdout) as Record<string, unknown>;
    for (const k of [
      "scenario",
      "driver",
      "seed",
      "simulatedNs",
      "wallMs",
      "events",
      "eventsPerSecond",
      "fingerprint",
      "goodputBps",
      "flows",
      "host",
      "guest",
      "tcp",
      "memory",
      "stalls",
    ]) {
      expect(r).toHaveProperty(k);
    }
    expect(r.driver).toBe("patch1");
    expect(r.seed).toBe(5);
  });

  it("compare --json prints {runs:[…]} and --out writes a report atomically", async () => {
    const out = join(dir, "cmp");
    const io = capture();
    const argv = ["compare", small, "--drivers", "v3.2,rfc-v1", "--seeds", "1", "--json", "--out", out];
    expect(await main(argv, io)).toBe(EXIT_OK);
    const c = JSON.parse(io.stdout) as { runs: { driver: string }[] };
    expect(c.runs.map((r) => r.driver)).toEqual(["v3.2", "rfc-v1"]);
    expect(readdirSync(out).sort()).toEqual(["compare.json", "report.html"]);
    expect(readFileSync(join(out, "report.html"), "utf8")).toContain("<svg");
  });

  it("compare gives the same runs on one thread and on worker threads", async () => {
    const fingerprints = async (jobs: string) => {
      const io = capture();
      expect(await main(["compare", small, "--drivers", "v3.2,mainline", "--jobs", jobs, "--json"], io)).toBe(
        EXIT_OK,
      );
      return (JSON.parse(io.stdout) as { runs: { fingerprint: string }[] }).runs.map((r) => r.fingerprint);
    };
    const one = await fingerprints("1");
    expect(await fingerprints("2")).toEqual(one);
    expect(new Set(one).size).toBe(2);
  });

  it("bad flags and unknown drivers are usage errors (exit 2)", async () => {
    expect(await main(["run", small, "--seed", "-1"], capture())).toBe(EXIT_USAGE);
    expect(await main(["run", small, "--driver", "nope"], capture())).toBe(EXIT_USAGE);
    expect(await main(["nonsense"], capture())).toBe(EXIT_USAGE);
    expect(await main(["bench", "nope"], capture())).toBe(EXIT_USAGE);
  });
});
