/**
 * Scenario fuzz: generated hostile scenario files, each read, validated and (when valid) run for a
 * few simulated milliseconds. Every case must end as a valid run or a typed error (ScenarioError,
 * BudgetError, or one of the model's own error classes); a TypeError, a RangeError from the runtime, a
 * hang or a crash fails the suite.
 *
 * Size: VNETLAB_FUZZ=large (as `npm run fuzz` sets) runs 3000 cases, otherwise 150 (CI). The cases
 * come from a fixed seed (VNETLAB_FUZZ_SEED to vary it), so a failure names a case that reproduces.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import YAML from "yaml";
import { z } from "zod";
import { BudgetError, resolveScenario, runScenario } from "../run/run.ts";
import { ScenarioError } from "./errors.ts";
import { readScenario } from "./load.ts";
import { PRESET_NAMES, presetText } from "./presets.ts";
import { scenarioSchema } from "./schema.ts";
import { schemaAt, unwrap } from "./walk.ts";

const LARGE = process.env.VNETLAB_FUZZ === "large";
const CASES = LARGE ? 3000 : 150;
const SEED = Number(process.env.VNETLAB_FUZZ_SEED ?? 18);
/** The large run takes minutes (each case is small; there are many). */
const TIMEOUT_MS = LARGE ? 3_600_000 : 300_000;

/** mulberry32: a small seeded generator for test data (the model's streams live in src/sim/rng.ts). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

const HOSTILE_VALUES: readonly unknown[] = [
  0,
  -1,
  1,
  -21,
  -31,
  31,
  2 ** 31,
  2 ** 53,
  1e308,
  -1e308,
  0.5,
  "1e308s",
  "0s",
  "0B",
  "1ns",
  "24h",
  "25h",
  "99999999999999999999GiB",
  "64GiB",
  "1Tbit/s",
  "1bit/s",
  "0bit/s",
  "1.5ns",
  "NaN",
  "",
  "x".repeat(5000),
  "\u202e\u0000\u0007",
  [],
  {},
  null,
  true,
  [1, [2, [3]]],
  { __proto__: null, x: 1 },
];

/** Every path to a leaf or list of an object (lists contribute their first index). */
function leafPaths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return v.length === 0 ? [at] : [at, ...leafPaths(v[0], [...at, 0])];
  if (v !== null && typeof v === "object") {
    return Object.entries(v).flatMap(([k, x]) => [at, ...leafPaths(x, [...at, k])]);
  }
  return [at];
}

function setPath(root: Record<string, unknown>, path: readonly (string | number)[], value: unknown): void {
  let o: Record<string | number, unknown> = root;
  for (let i = 0; i < path.length - 1; i++) {
    const next = o[path[i]!];
    if (next === null || typeof next !== "object") o[path[i]!] = typeof path[i + 1] === "number" ? [] : {};
    o = o[path[i]!] as Record<string | number, unknown>;
  }
  if (path.length > 0) o[path[path.length - 1]!] = value;
}

/** Every leaf path of a fully defaulted scenario, as raw keys: where mutations may land. */
const SCHEMA_PATHS = leafPaths(JSON.parse(JSON.stringify(resolveScenario({ raw: {} })))).filter(
  (p) => p.length > 0,
);

/** A preset (or the empty scenario) with a few fields set to hostile values. */
function presetMutation(r: Rand): string {
  const base = r() < 0.3 ? {} : (YAML.parse(presetText(pick(r, PRESET_NAMES))) as Record<string, unknown>);
  const raw = structuredClone(base);
  for (let i = int(r, 1, 4); i > 0; i--) setPath(raw, pick(r, SCHEMA_PATHS), pick(r, HOSTILE_VALUES));
  return YAML.stringify(raw);
}

/** Integer fields of the schema with their bounds: valid extremes the model must compute with. */
const NUMERIC_FIELDS = SCHEMA_PATHS.flatMap((path) => {
  const node = schemaAt(scenarioSchema, path);
  const n = node === undefined ? undefined : unwrap(node);
  return n instanceof z.ZodNumber && Number.isFinite(n.minValue) && Number.isFinite(n.maxValue)
    ? [{ path, min: n.minValue!, max: n.maxValue! }]
    : [];
});

/** The empty scenario with a few numeric fields at (or near) the ends of their ranges. */
function extremes(r: Rand): string {
  const raw: Record<string, unknown> = { duration: "20ms", warmup: "0s", sampleInterval: "5ms" };
  for (let i = int(r, 1, 5); i > 0; i--) {
    const f = pick(r, NUMERIC_FIELDS);
    const v = pick(r, [f.min, f.max, f.min + 1, f.max - 1, int(r, f.min, Math.min(f.max, f.min + 1000))]);
    setPath(raw, f.path, Number.isInteger(f.min) ? Math.round(v) : v);
  }
  return YAML.stringify(raw);
}

/** Text-level hostility the YAML and JSON readers must bound or refuse. */
function structural(r: Rand): string {
  const key = pick(r, ["seed", "guest", "__proto__", "constructor", "prototype", "<<", "a b", "\u202ex"]);
  switch (int(r, 0, 13)) {
    case 0:
      return `${"[".repeat(int(r, 20, 20_000))}${"]".repeat(int(r, 0, 20_000))}`;
    case 1: {
      let s = "";
      for (let i = int(r, 10, 400); i > 0; i--) s = `{"${key}": ${s || "1"}}`;
      return s;
    }
    case 2:
      return `seed: 1\n${key}: 2\n${key}: 3\n`;
    case 3:
      return `guest:\n  ${key}: { memory: 64MiB }\n`;
    case 4:
      return pick(r, ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: *missing\n", "a: &x 5\nb: {<<: *x}\n"]);
    case 5: {
      const lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"];
      for (let i = 1; i < int(r, 3, 12); i++)
        lines.push(
          `l${i}: &l${i} [${Array(9)
            .fill(`*l${i - 1}`)
            .join(", ")}]`,
        );
      return `${lines.join("\n")}\n`;
    }
    case 6:
      return `seed: ${pick(r, ["!foo 1", "!!omap [ {a: 1} ]", "!!binary aGk=", "!!set {a}", "!<tag:x> 1", "!!float 1"])}\n`;
    case 7:
      return Array.from({ length: int(r, 1000, 70_000) }, (_, i) => `k${i}: ${i}`).join("\n");
    case 8:
      return `apps:\n  memoryHogs: [${Array(int(r, 900, 12_000))
        .fill("{}")
        .join(",")}]\n`;
    case 9:
      return `description: "${"\\u0000\\u202e\\n".repeat(int(r, 1, 400_000))}"\n`;
    case 10:
      return `\ufeffseed: 1\r\nguest:\r\n\tmemory: 1GiB\r\n`;
    case 11:
      return `network:\n  senders:\n${Array.from({ length: int(r, 1, 120) }, () => `    - { count: ${int(r, 1, 12_000)} }`).join("\n")}\n`;
    case 12:
      return `{"seed": ${pick(r, ["1e999", "-0", "12345678901234567890", "0x10", "NaN", "1.0"])}, "seed": 2}`;
    default:
      return String.fromCharCode(...Array.from({ length: int(r, 1, 300) }, () => int(r, 0, 0x2ff)));
  }
}

/** `extends:` at files, devices and trees it must not read, and at what it may. */
function extendsCase(r: Rand, dir: string): string {
  const target = pick(r, [
    "/dev/zero",
    "/dev/urandom",
    "/etc/passwd",
    "/proc/self/environ",
    "../../etc/hostname",
    "../outside.yaml",
    "link-out.yaml",
    "link-dev.yaml",
    "fifo.yaml",
    "list.yaml",
    "self.yaml",
    "ok.yaml",
    "seed-torrent",
    "no-such-preset",
    "sub/../ok.yaml",
    "ok.YAML",
  ]);
  writeFileSync(join(dir, "self.yaml"), "extends: self.yaml\n");
  return `extends: ${r() < 0.2 ? pick(r, ["1", "[a]", "{a: 1}", "null"]) : JSON.stringify(target)}\nseed: ${int(r, 0, 9)}\n`;
}

interface Tally {
  tried: number;
  /** Valid and run for 20 ms. */
  ran: number;
  /** Valid, but with times beyond a 20 ms run (not run). */
  validLong: number;
  scenarioErrors: number;
  budgetErrors: number;
  modelErrors: number;
}

/** Error classes of the model: typed, named failures (anything else is a bug the fuzz must report). */
const TYPED = new Set([
  "ModelError",
  "VirtqueueError",
  "EventQueueError",
  "PacketPoolError",
  "LinkError",
  "TimeError",
  "RngError",
]);

function runCase(path: string, tally: Tally): void {
  tally.tried++;
  try {
    const source = readScenario(path);
    resolveScenario(source);
    let short: ReturnType<typeof resolveScenario>;
    try {
      short = resolveScenario(source, { duration: "20ms", set: ["warmup=0s", "sampleInterval=5ms"] });
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      tally.validLong++;
      return;
    }
    runScenario(short, {
      // The process's own memory plus a little: a fuzz case must not take the machine.
      budget: { memoryBytes: process.memoryUsage.rss() + 768 * 2 ** 20, outputChars: 64 * 2 ** 20 },
    });
    tally.ran++;
  } catch (e) {
    if (e instanceof ScenarioError) tally.scenarioErrors++;
    else if (e instanceof BudgetError) tally.budgetErrors++;
    else if (e instanceof Error && TYPED.has(e.name)) tally.modelErrors++;
    else throw new Error(`fuzz case ${path}: untyped ${(e as Error).name}: ${(e as Error).message}`);
  }
}

describe("scenario fuzz", () => {
  it(
    `${CASES} generated hostile scenario files end valid or with a typed error`,
    () => {
      const root = mkdtempSync(join(tmpdir(), "vnetlab-fuzz-"));
      const dir = join(root, "tree");
      mkdirSync(join(dir, "sub"), { recursive: true });
      writeFileSync(join(root, "outside.yaml"), "seed: 5\n");
      writeFileSync(join(dir, "ok.yaml"), "seed: 4\n");
      writeFileSync(join(dir, "list.yaml"), "- 1\n");
      symlinkSync(join(root, "outside.yaml"), join(dir, "link-out.yaml"));
      symlinkSync("/dev/zero", join(dir, "link-dev.yaml"));
      execFileSync("mkfifo", [join(dir, "fifo.yaml")]);
      const r = rng(SEED);
      const tally: Tally = {
        tried: 0,
        ran: 0,
        validLong: 0,
        scenarioErrors: 0,
        budgetErrors: 0,
        modelErrors: 0,
      };
      onTestFinished(() => rmSync(root, { recursive: true, force: true }));
      for (let i = 0; i < CASES; i++) {
        const kind = pick(r, [
          "preset",
          "extremes",
          "extremes",
          "structure",
          "structure",
          "extends",
        ] as const);
        const text =
          kind === "preset"
            ? presetMutation(r)
            : kind === "extremes"
              ? extremes(r)
              : kind === "structure"
                ? structural(r)
                : extendsCase(r, dir);
        const path = join(
          dir,
          `case-${i}-${kind}.${kind === "structure" && text.startsWith("{") ? "json" : "yaml"}`,
        );
        writeFileSync(path, text);
        runCase(path, tally);
      }
      // The counts the issue's closing note asks for.
      console.log(`scenario fuzz (seed ${SEED}): ${JSON.stringify(tally)}`);
      const handled =
        tally.ran + tally.validLong + tally.scenarioErrors + tally.budgetErrors + tally.modelErrors;
      expect(handled).toBe(CASES);
      // Every class is exercised: some cases run, some are refused.
      expect(tally.ran).toBeGreaterThan(0);
      expect(tally.scenarioErrors).toBeGreaterThan(CASES / 4);
    },
    TIMEOUT_MS,
  );
});
