/**
 * Issue 18's hostile-input examples through the CLI's main(): each ends with exit 2 and a message that
 * names the path, within seconds, and leaves no file behind that the user did not name.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EXIT_MODEL, EXIT_OK, EXIT_USAGE, main } from "./main.ts";
import { capture } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "vnetlab-hostile-"));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const small = file(
  "small.yaml",
  "name: small\nduration: 200ms\nwarmup: 50ms\nguest: { memory: 128MiB }\nnetwork: { senders: [{ count: 1, startJitter: 1ms }] }\n",
);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = capture();
  const code = await main(args, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

/** Exit 2 with a message containing every fragment. */
async function refused(args: string[], ...fragments: string[]): Promise<string> {
  const r = await cli(args);
  expect(r.code, r.stderr).toBe(EXIT_USAGE);
  for (const f of fragments) expect(r.stderr).toContain(f);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  return r.stderr;
}

describe("hostile scenario input through the CLI", () => {
  it("advWinScale -21, where tcp_rcv_space_adjust's loop would never end, is refused", async () => {
    await refused(
      ["run", "seed-torrent", "--set", "guest.tcp.advWinScale=-21", "--duration", "10ms"],
      'guest.tcp.advWinScale = -21: must be "auto" or an integer from -20 to 31',
    );
  });

  it("extends: devices, FIFOs, system files and escapes are refused naming the path", async () => {
    for (const target of ["/dev/zero", "/dev/urandom", "/etc/passwd", "/proc/self/environ"]) {
      await refused(["validate", file("abs.yaml", `extends: ${target}\n`)], "extends = ", "absolute path");
    }
    await refused(
      ["validate", file("up.yaml", "extends: ../../etc/hostname\n")],
      "extends = ",
      ".yaml, .yml or .json",
    );
    execFileSync("mkfifo", [join(dir, "pipe.yaml")]);
    await refused(["validate", file("fifo.yaml", "extends: pipe.yaml\n")], "pipe.yaml", "not a regular file");
  });

  it("a __proto__ key with extends cannot change the run behind validation's back", async () => {
    file("base.yaml", "seed: 3\n");
    const f = file("proto.yaml", 'extends: base.yaml\n__proto__: { guest: { memory: "64MiB" } }\n');
    await refused(["run", f], "__proto__", "not allowed");
    await refused(["run", f, "--seed", "1"], "__proto__", "not allowed");
    await refused(
      ["run", small, "--set", "guest.__proto__={memory: 64MiB}"],
      'key "__proto__" is not allowed',
    );
  });

  it("JSON nested 10 000 deep, the recursive alias and duplicate JSON keys are exit 2", async () => {
    await refused(
      ["validate", file("deep.json", `${"[".repeat(10_000)}${"]".repeat(10_000)}`)],
      "(root): is nested more than 32 levels deep",
    );
    await refused(["validate", file("rec.yaml", "a: &a [*a]\n")], "a[0]: alias *a", "contains it");
    await refused(
      ["validate", file("dup.json", '{"seed": 1,\n "seed": 2}')],
      'seed: duplicate key "seed": written at line 1, column 2 and again at line 2, column 2',
    );
  });

  it("conflicting flags are refused instead of one silently winning", async () => {
    await refused(["run", small, "--seed", "1", "--set", "seed=2"], "--set seed=2 conflicts with --seed");
    await refused(
      ["run", small, "--set", "seed=1", "--set", "seed=2"],
      "--set seed=2 conflicts with --set seed=1",
    );
    await refused(["compare", small, "--set", "guest.driver.version=v3.2"], "conflicts with --drivers");
  });

  it("NaN and Infinity are shown as such", async () => {
    await refused(["validate", small, "--set", "seed=.nan"], "seed = NaN");
    await refused(["validate", file("inf.json", '{"seed": 1e999}')], "seed = Infinity");
  });

  it("budgets: a million flows or 6 h of 1 ms samples are refused with the estimate", async () => {
    const flows = await refused(
      ["validate", small, "--set", `network.senders=[${Array(100).fill("{count: 10000}").join(",")}]`],
      "1000000 flows",
      "MiB of memory",
      "--max-memory",
    );
    expect(flows).toMatch(/needs about \d+ MiB/);
    await refused(
      ["run", small, "--set", "duration=6h", "--set", "sampleInterval=1ms"],
      "21600000 samples",
      "MiB of results",
    );
    // The flag moves the limit both ways.
    await refused(["run", small, "--max-memory", "1MiB"], "the budget is 1 MiB");
  });
});

describe("outputs", () => {
  it("every target is checked before the run, and a symlink, FIFO or device is never replaced", async () => {
    const out = join(dir, "out-link");
    mkdirSync(out);
    const elsewhere = file("elsewhere.json", "keep");
    symlinkSync(elsewhere, join(out, "summary.json"));
    const started = Date.now();
    await refused(["run", small, "--out", out], "summary.json", "a symbolic link");
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(lstatSync(join(out, "summary.json")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(out, "summary.json"))).toBe(elsewhere);
    expect(readFileSync(elsewhere, "utf8")).toBe("keep");
    expect(readdirSync(out)).toEqual(["summary.json"]);

    const fifoDir = join(dir, "out-fifo");
    mkdirSync(fifoDir);
    execFileSync("mkfifo", [join(fifoDir, "report.html")]);
    await refused(["compare", small, "--drivers", "v3.2", "--out", fifoDir], "report.html", "a FIFO");
    expect(lstatSync(join(fifoDir, "report.html")).isFIFO()).toBe(true);
    expect(readdirSync(fifoDir)).toEqual(["report.html"]);

    await refused(["run", small, "--out", "/proc/x"], "inside /proc");
    await refused(["run", small, "--out", "/dev/full"], "inside /proc, /sys, /dev");
  });

  it("an unwritable directory is reported before the run and leaves nothing", async () => {
    const ro = join(dir, "ro-file");
    writeFileSync(ro, "");
    await refused(["run", small, "--out", join(ro, "sub")], "is not a directory");
    expect(existsSync(join(ro, "sub"))).toBe(false);
  });

  it("run --out writes both files and no temp file", async () => {
    const out = join(dir, "ok");
    expect((await cli(["run", small, "--out", out])).code).toBe(EXIT_OK);
    expect(readdirSync(out).sort()).toEqual(["report.html", "summary.json"]);
  });

  it("a full or closed stdout ends with exit 1 and one line, not a stack trace", () => {
    const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));
    const full = openSync("/dev/full", "w");
    const r = spawnSync(process.execPath, ["--import", "tsx", mainTs, "schema"], {
      stdio: ["ignore", full, "pipe"],
      encoding: "utf8",
      timeout: 110_000, // tsx starts slowly on a loaded machine
    });
    closeSync(full);
    expect(r.status).toBe(EXIT_MODEL);
    expect(r.stderr).toBe("vnetlab: cannot write to stdout: ENOSPC\n");
  });
});
