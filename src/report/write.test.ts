import { execFileSync } from "node:child_process";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { checkOutputTarget, tempPrefix, writeFileAtomic, writeReportAtomic } from "./write.ts";

describe("writeReportAtomic", () => {
  let dir = "";
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "vnetlab-write-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("creates missing directories and leaves only the target behind", async () => {
    const path = join(dir, "a", "b", "report.html");
    await writeReportAtomic(path, "<p>one</p>");
    expect(await readFile(path, "utf8")).toBe("<p>one</p>");
    expect(await readdir(join(dir, "a", "b"))).toEqual(["report.html"]);
  });

  test("replaces an existing file", async () => {
    const path = join(dir, "report.html");
    await writeFile(path, "old contents that are longer than the new ones");
    await writeReportAtomic(path, "new");
    expect(await readFile(path, "utf8")).toBe("new");
    expect(await readdir(dir)).toEqual(["report.html"]);
  });

  test("concurrent writers: the file holds one whole version and no temp file remains", async () => {
    const path = join(dir, "report.html");
    const versions = Array.from({ length: 8 }, (_, i) => `version ${i} `.repeat(20_000));
    await Promise.all(versions.map((v) => writeReportAtomic(path, v)));
    expect(versions).toContain(await readFile(path, "utf8"));
    expect(await readdir(dir)).toEqual(["report.html"]);
  });

  test("a failed rename removes the temp file and reports the error", async () => {
    const path = join(dir, "occupied");
    await mkdir(join(path, "child"), { recursive: true }); // a non-empty directory cannot be renamed over
    await expect(writeReportAtomic(path, "x")).rejects.toThrow();
    expect(await readdir(dir)).toEqual(["occupied"]);
  });

  test("removes temp files that dead processes left for the same target, keeps live ones", async () => {
    const path = join(dir, "summary.json");
    // A pid above the kernel's PID_MAX_LIMIT (4194304, include/linux/threads.h) is never alive.
    const dead = `${tempPrefix(path, 4194305)}3.tmp`;
    const deadDb = `${tempPrefix(path, 4194305)}tmp-wal`;
    const live = `${tempPrefix(path, process.ppid)}1.tmp`;
    const other = ".other.json.somehost-4194305.1.tmp";
    for (const f of [dead, deadDb, live, other]) await writeFile(join(dir, f), "x");
    await writeReportAtomic(path, "{}");
    expect((await readdir(dir)).sort()).toEqual([live, other, "summary.json"].sort());
  });

  test("never replaces a symlink or FIFO, even one that appears while the run goes on", async () => {
    const target = join(dir, "kept.txt");
    await writeFile(target, "kept");
    const link = join(dir, "out.json");
    await checkOutputTarget(link);
    await symlink(target, link); // after the check, before the write
    await expect(writeFileAtomic(link, "new")).rejects.toThrow("a symbolic link");
    expect(await readlink(link)).toBe(target);
    expect(await readFile(target, "utf8")).toBe("kept");
    const fifo = join(dir, "fifo.html");
    execFileSync("mkfifo", [fifo]);
    await expect(checkOutputTarget(fifo)).rejects.toThrow("a FIFO");
    await expect(writeFileAtomic(fifo, "x")).rejects.toThrow("a FIFO");
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(["fifo.html", "kept.txt", "out.json"]);
  });

  test("checkOutputTarget refuses devices, pseudo-file systems and unwritable places, creating nothing", async () => {
    await expect(checkOutputTarget("/dev/full")).rejects.toThrow("inside /proc, /sys, /dev");
    await expect(checkOutputTarget("/proc/x")).rejects.toThrow("inside /proc");
    await expect(checkOutputTarget(join(dir, "f", "x"))).resolves.toBeUndefined();
    await writeFile(join(dir, "f"), "");
    await expect(checkOutputTarget(join(dir, "f", "sub", "x"))).rejects.toThrow("is not a directory");
    await expect(checkOutputTarget(dir)).rejects.toThrow("a directory");
    expect(await readdir(dir)).toEqual(["f"]);
  });
});
