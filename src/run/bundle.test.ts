import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Piscina } from "piscina";
import { afterAll, describe, expect, it } from "vitest";
import { comparePool } from "./compare-pool.ts";
import { createRunPool } from "./sweep.ts";
import { TSX_LOADER } from "./tsx-loader.ts";
import { CACHE_DIR, freshBundle, manifestFile, ROOT, stemOf, writeManifest } from "../../bin/bundle-cache.js";
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

describe("bundle manifests", () => {
  // Entries must lie in the package (bundles and manifests name them by their path in it).
  const scratchRoot = join(ROOT, "node_modules", ".cache", "vnetlab-test");
  const scratch: string[] = [];
  afterAll(async () => {
    for (const d of scratch) await rm(d, { recursive: true, force: true });
  });
  async function scratchDir(): Promise<string> {
    mkdirSync(scratchRoot, { recursive: true });
    const d = await mkdtemp(join(scratchRoot, "t-"));
    scratch.push(d);
    return d;
  }

  it("reuse the bundle while the files it was built from hold the same bytes", async () => {
    const src = await scratchDir();
    const dir = await scratchDir();
    const entry = join(src, "entry.ts");
    const text = (v: string) =>
      `import { depUrl } from ${JSON.stringify(DEP)};\nexport const v = [${v}, depUrl];\n`;
    writeFileSync(entry, text('"a"'));
    expect(freshBundle(entry, dir)).toBeNull();
    const a = (await bundledModule(entry, dir))!;
    expect(freshBundle(entry, dir)).toBe(a);
    const manifest = JSON.parse(readFileSync(manifestFile(entry, dir), "utf8"));
    expect(manifest.files).toEqual(
      [
        "package.json",
        "src/run/bundle.ts",
        "src/run/testdata/worker-probe-dep.ts",
        join(src.slice(ROOT.length + 1), "entry.ts"),
        "tsconfig.json",
      ].sort(),
    );
    // An edit, even one keeping the file's size, makes it stale; the new bundle is fresh.
    writeFileSync(entry, text('"b"'));
    expect(freshBundle(entry, dir)).toBeNull();
    const b = (await bundledModule(entry, dir))!;
    expect(b).not.toBe(a);
    expect(freshBundle(entry, dir)).toBe(b);
    // Back to the first bytes: content-addressed, the first bundle again.
    writeFileSync(entry, text('"a"'));
    expect(freshBundle(entry, dir)).toBeNull();
    expect(await bundledModule(entry, dir)).toBe(a);
    // A bundle pruned or removed is built again.
    rmSync(a);
    expect(freshBundle(entry, dir)).toBeNull();
    expect(await bundledModule(entry, dir)).toBe(a);
    expect(existsSync(a)).toBe(true);
  });

  // An immutable file refuses utimes even to root: a read-only install's cache.
  const immutable = (file: string, on: boolean) =>
    spawnSync("chattr", [on ? "+i" : "-i", file], { encoding: "utf8" }).status === 0;

  it("serve a fresh bundle that cannot be marked used (a read-only install)", async (ctx) => {
    const src = await scratchDir();
    const dir = await scratchDir();
    const entry = join(src, "entry.ts");
    writeFileSync(entry, "export const v = 1;\n");
    const file = (await bundledModule(entry, dir))!;
    const mtime = statSync(file).mtimeMs;
    if (!immutable(file, true)) ctx.skip("chattr +i is not available here");
    try {
      expect(freshBundle(entry, dir)).toBe(file);
      expect(statSync(file).mtimeMs).toBe(mtime);
    } finally {
      immutable(file, false);
    }
  });

  it("let bin/bundled.js run a fresh bundle without building it", async () => {
    const src = await scratchDir();
    // An entry that does not even compile: only a fresh manifest's bundle can run.
    const entry = join(src, "broken.ts");
    writeFileSync(entry, "export const = ;\n");
    const bundle = join(CACHE_DIR, `${stemOf(entry)}0123456789abcdef.mjs`);
    mkdirSync(CACHE_DIR, { recursive: true });
    writeFileSync(bundle, 'process.stdout.write("from the cached bundle");\n');
    try {
      writeManifest(entry, bundle, [entry.slice(ROOT.length + 1)], (f: string) =>
        readFileSync(join(ROOT, f)),
      );
      let r = spawnSync(process.execPath, [LAUNCH, entry], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe("from the cached bundle");
      // Edited: stale, so bin/bundled.js builds it, and the build fails on the syntax error.
      writeFileSync(entry, "export const = ; \n");
      r = spawnSync(process.execPath, [LAUNCH, entry], { encoding: "utf8" });
      expect(r.status).not.toBe(0);
      expect(r.stdout).toBe("");
    } finally {
      rmSync(bundle, { force: true });
      rmSync(manifestFile(entry), { force: true });
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
