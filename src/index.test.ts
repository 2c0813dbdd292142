import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../bin/bundle-cache.js";
import * as index from "./index.ts";

/** [name, typeof value] of a module's runtime exports, sorted by name. */
function shape(m: Record<string, unknown>): [string, string][] {
  return Object.keys(m)
    .sort()
    .map((k) => [k, typeof m[k]]);
}

const RUN = { driver: "patch1", duration: "1s", set: ["warmup=0s"] } as const;

describe('import from "vnetlab" in plain Node', () => {
  it("gives src/index.ts's exports from the bundle, without a TypeScript loader, and runs the same model", () => {
    // A project that depends on the package: its own package.json and node_modules/vnetlab.
    const dir = mkdtempSync(join(tmpdir(), "vnetlab-user-"));
    try {
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "user", type: "module" }));
      mkdirSync(join(dir, "node_modules"));
      symlinkSync(ROOT, join(dir, "node_modules", "vnetlab"), "dir");
      const script = [
        'import * as lib from "vnetlab";',
        "const shape = Object.keys(lib).sort().map((k) => [k, typeof lib[k]]);",
        `const r = lib.run("seed-torrent", ${JSON.stringify(RUN)});`,
        "console.log(JSON.stringify({ shape, fingerprint: r.fingerprint, events: r.events }));",
      ].join("\n");
      writeFileSync(join(dir, "use.mjs"), script);
      // execArgv of a vitest worker may carry a loader: the child gets none.
      const r = spawnSync(process.execPath, ["use.mjs"], {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, NODE_OPTIONS: "" },
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { shape: [string, string][]; fingerprint: string; events: number };
      expect(out.shape).toEqual(shape(index));
      const here = index.run("seed-torrent", { ...RUN, set: [...RUN.set] });
      expect(out.fingerprint).toBe(here.fingerprint);
      expect(out.events).toBe(here.events);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the library's types", () => {
  it("are declarations a TypeScript project checks its use of the library against", () => {
    const dir = mkdtempSync(join(tmpdir(), "vnetlab-types-"));
    try {
      // The package as npm would install it, with the declarations prepare (tsconfig.types.json) emits.
      const pkg = join(dir, "node_modules", "vnetlab");
      mkdirSync(pkg, { recursive: true });
      copyFileSync(join(ROOT, "package.json"), join(pkg, "package.json"));
      const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
      const emit = spawnSync(
        process.execPath,
        [tsc, "-p", join(ROOT, "tsconfig.types.json"), "--outDir", join(pkg, "types")],
        {
          encoding: "utf8",
        },
      );
      expect(emit.status, emit.stdout).toBe(0);
      writeFileSync(
        join(dir, "use.ts"),
        [
          'import { run, type RunSummary } from "vnetlab";',
          'const r: RunSummary = run("seed-torrent", { driver: "patch1", duration: "1s" });',
          "const fingerprint: string = r.fingerprint;",
          "// @ts-expect-error: a fingerprint is a string (an unused directive is an error: the types are not any)",
          "const wrong: number = r.fingerprint;",
          "console.log(fingerprint, wrong);",
        ].join("\n"),
      );
      writeFileSync(
        join(dir, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            module: "nodenext",
            moduleResolution: "nodenext",
            target: "es2022",
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            types: ["node"],
            typeRoots: [join(ROOT, "node_modules", "@types")],
          },
          files: ["use.ts"],
        }),
      );
      const check = spawnSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8" });
      expect(check.stdout).toBe("");
      expect(check.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
