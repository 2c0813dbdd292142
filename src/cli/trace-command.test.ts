import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkChromeTrace } from "../report/trace-format.ts";
import { EXIT_OK, EXIT_USAGE, main } from "./main.ts";
import { capture } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "vnetlab-trace-"));
const WINDOW = ["probe-under-pressure", "--driver", "v3.2", "--from", "1s", "--to", "2s"];

describe("vnetlab trace", () => {
  it("prints trace-cmd text on stdout", async () => {
    const io = capture();
    expect(await main(["trace", ...WINDOW, "-e", "virtio_net"], io)).toBe(EXIT_OK);
    expect(io.stdout.startsWith("cpus=1\n")).toBe(true);
    expect(io.stdout).toMatch(/kworker\/0:0-\d+ +\[000\] +1\.\d{9}: refill_work: /);
  });

  it("writes a Perfetto file with -o, and run --trace does the same inside a run", async () => {
    const io = capture();
    const file = join(dir, "t.json");
    expect(await main(["trace", ...WINDOW, "--format", "perfetto", "-o", file], io)).toBe(EXIT_OK);
    expect(checkChromeTrace(JSON.parse(readFileSync(file, "utf8")))).toEqual([]);
    expect(io.stderr).toMatch(/records \(perfetto\)/);
    const io2 = capture();
    const text = join(dir, "run.trace");
    expect(
      await main(["run", "probe-under-pressure", "--duration", "2200ms", "--json", "--trace", text], io2),
    ).toBe(EXIT_OK);
    expect(JSON.parse(io2.stdout).fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(readFileSync(text, "utf8")).toMatch(/^cpus=1\n/);
  });

  it("rejects unknown events, formats and windows with exit 2", async () => {
    for (const args of [
      [...WINDOW, "-e", "napi:bogus"],
      [...WINDOW, "--format", "svg"],
      ["probe-under-pressure", "--from", "3s", "--to", "2s"],
      ["probe-under-pressure", "--to", "99s"],
    ]) {
      const io = capture();
      expect(await main(["trace", ...args], io), args.join(" ")).toBe(EXIT_USAGE);
      expect(io.stderr.length).toBeGreaterThan(0);
    }
  });
});
