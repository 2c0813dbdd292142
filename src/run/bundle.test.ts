import { spawnSync } from "node:child_process";
import { existsSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Piscina } from "piscina";
import { afterAll, describe, expect, it } from "vitest";
import { comparePool } from "./compare-pool.ts";
import { createRunPool } from "./sweep.ts";
import { TSX_LOADER } from "./tsx-loader.ts";
import { bundledModule, LAUNCH, type WorkerModule, workerModule } from "./bundle.ts";

const PROBE = fileURLToPath(new URL("./testdata/worker-probe.ts", import.meta.url));
const DEP = fileURLToPath(new URL("./testdata/worker-probe-dep.ts", import.meta.url));
const LAUNCH_PROBE = fileURLToPath(new URL("./testdata/launch-probe.ts", import.meta.url));

interface Probe {
  esm: boolean;
  depUrl: string;
  stack: string;
}

async function probeIn(options: WorkerModule): Promise<Probe> {
  const pool = new Piscina<void, Probe>({ ...options, minThreads: 1, maxThreads: 1 });
  try {
    return await pool.run();
  } finally {
    await pool.destroy();
  }
}

describe("workerModule", () => {
  const scratch: string[] = [];
  afterAll(async () => {
    for (const d of scratch) await rm(d, { recursive: true, force: true });
  });

  it("bundles the entry into one ES module that keeps each module's URL and maps stacks to the TypeScript", async () => {
    const m = await workerModule(PROBE);
    expect(m.filename).toMatch(
      /node_modules\/\.cache\/vnetlab\/src-run-testdata-worker-probe-ts-[0-9a-f]{16}\.mjs$/,
    );
    expect(m.execArgv).toEqual(["--enable-source-maps"]);
    // Content-addressed: the same code gives the same file.
    expect((await workerModule(PROBE)).filename).toBe(m.filename);
    const p = await probeIn(m);
    // Not compiled to CommonJS (tsx's only way into a worker on Node 20, three times slower).
    expect(p.esm).toBe(true);
    expect(p.depUrl).toBe(pathToFileURL(DEP).href);
    expect(p.stack).toContain(`${DEP}:5:`);
  });

  it("falls back to tsx's loader when the bundle cannot be written", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vnetlab-bundle-"));
    scratch.push(dir);
    writeFileSync(join(dir, "file"), "");
    const m = await workerModule(PROBE, join(dir, "file", "cache"));
    expect(m).toEqual({ filename: PROBE, execArgv: ["--import", TSX_LOADER] });
    const p = await probeIn(m);
    expect(p.esm).toBe(false);
    expect(p.depUrl).toBe(pathToFileURL(DEP).href);
  });

  it("keeps bundles in use and removes other versions of the entry unused for a day", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vnetlab-bundle-"));
    scratch.push(dir);
    const stem = "src-run-testdata-worker-probe-ts-";
    const twoDaysAgo = Date.now() / 1000 - 2 * 86400;
    const stale = join(dir, `${stem}0000000000000000.mjs`);
    const recent = join(dir, `${stem}1111111111111111.mjs`);
    const otherEntry = join(dir, "src-run-other-ts-2222222222222222.mjs");
    for (const f of [stale, recent, otherEntry]) writeFileSync(f, "");
    utimesSync(stale, twoDaysAgo, twoDaysAgo);
    utimesSync(otherEntry, twoDaysAgo, twoDaysAgo);
    const file = (await bundledModule(PROBE, dir))!;
    expect([existsSync(file), existsSync(stale), existsSync(recent), existsSync(otherEntry)]).toEqual([
      true,
      false,
      true,
      true,
    ]);
    // Using a bundle again marks it used.
    utimesSync(file, twoDaysAgo, twoDaysAgo);
    expect(await bundledModule(PROBE, dir)).toBe(file);
    expect(Date.now() - statSync(file).mtimeMs).toBeLessThan(86400 * 1000);
  });

  it("is what the compare and sweep pools load", async () => {
    for (const pool of [await comparePool(1, 1), await createRunPool(1)]) {
      try {
        expect(pool.options.filename).toMatch(/\.mjs$/);
        expect(pool.options.execArgv).toEqual(["--enable-source-maps"]);
      } finally {
        await pool.destroy();
      }
    }
  });
});

describe("bin/bundled.js", () => {
  it("runs a module from its bundle with the arguments after it, stacks mapped to the TypeScript", () => {
    const r = spawnSync(process.execPath, [LAUNCH, LAUNCH_PROBE, "a", "--b"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { argv: string[]; raw: string; mapped: string };
    expect(out.argv).toEqual(["a", "--b"]);
    expect(out.raw).toMatch(
      /node_modules\/\.cache\/vnetlab\/src-run-testdata-launch-probe-ts-[0-9a-f]{16}\.mjs:/,
    );
    expect(out.mapped).toContain(`${DEP}:5:`);
  });
});
