import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_OK, EXIT_USAGE, main } from "./main.ts";
import { capture } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "vnetlab-bench-cli-"));

describe("vnetlab bench scale", () => {
  it("rejects bad axis values and misplaced flags with exit 2 before measuring anything", async () => {
    let io = capture();
    expect(await main(["bench", "scale", "--flows", "1,0"], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain("--flows: 0 is not allowed; expected integers 1..10000");
    io = capture();
    expect(await main(["bench", "scale", "--rates", "1Gbit/s,warp"], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain('--rates: "warp" is not allowed');
    io = capture();
    expect(await main(["bench", "fes", "--durations", "10s"], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain("--durations applies to `bench scale` only");
    io = capture();
    expect(await main(["bench", "e2e", "--set", "seed=2"], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain("--set applies to `bench scale` only");
    io = capture();
    expect(await main(["bench", "scale", "--flows", "2", "--set", "duration=1s"], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain("duration is an axis of bench scale; use --durations");
    io = capture();
    expect(await main(["bench", "scale", "--flows", "2", "--set", "apps.readers[0].rcvbuf=1KiB"], io)).toBe(
      EXIT_USAGE,
    );
    expect(io.stderr).toContain('apps.readers[0].rcvbuf = "1KiB"');
    io = capture();
    expect(await main(["bench", "scale", "fes"], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain("bench scale runs alone");
    io = capture();
    expect(await main(["bench", "scale", "--flows", "1", "--chart", dir], io)).toBe(EXIT_USAGE);
    expect(io.stdout).toBe("");
  });

  it("measures the configurations asked for and writes the table and the chart page", async () => {
    const chart = join(dir, "scale.html");
    const io = capture();
    expect(await main(["bench", "scale", "--quick", "--flows", "2", "--chart", chart], io)).toBe(EXIT_OK);
    const lines = io.stdout.split("\n");
    expect(lines[0]).toMatch(/^axes\s+flows\s+rate\s+duration/);
    expect(lines[1]).toMatch(/^flows\s+2\s+10Gbit\/s\s+200ms\s+\d+/);
    expect(io.stdout).toContain(`chart: ${chart}`);
    expect(io.stderr).toContain("bench scale: 2 flows, 10Gbit/s, 200ms done");
    expect(readFileSync(chart, "utf8")).toContain("<td>flows</td><td>2</td>");
  }, 60_000);

  it("says under the table which overrides every configuration ran with", async () => {
    const chart = join(dir, "scale-set.html");
    const io = capture();
    const set = "apps.readers[0].rcvbuf=64KiB";
    expect(
      await main(["bench", "scale", "--quick", "--flows", "2", "--set", set, "--chart", chart], io),
    ).toBe(EXIT_OK);
    expect(io.stdout).toContain(`every configuration with --set ${set}.`);
    expect(io.stderr).toContain(`bench scale: 2 flows, 10Gbit/s, 200ms, ${set} done`);
    expect(readFileSync(chart, "utf8")).toContain(`--set ${set}`);
  }, 60_000);
});
