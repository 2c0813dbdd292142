import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { tempPrefix, writeReportAtomic } from "./write.ts";

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
});
