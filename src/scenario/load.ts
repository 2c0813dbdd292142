/**
 * Reading, validating and identifying scenarios.
 *
 * A scenario source (preset or file) is read as raw YAML/JSON, its `extends` chain is merged in, CLI
 * overrides are applied, and only then is the result validated, so every error points at a path of
 * the merged scenario. `extends: <preset or file>` is the one key handled here rather than by the
 * schema: the file starts from that scenario and its own keys win (objects merge key by key; lists
 * and values replace).
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  constants as fsConstants,
  fstatSync,
  openSync,
  readSync,
  realpathSync,
  type Stats,
  statSync,
} from "node:fs";
import { dirname, extname, isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { issuesFromZod, ScenarioError } from "./errors.ts";
import { applyOverrides } from "./overrides.ts";
import { isPresetName, PRESET_NAMES, type PresetName, presetText, presetUrl } from "./presets.ts";
import { type Scenario, scenarioSchema } from "./schema.ts";
import { INPUT_LIMITS, parseScenarioText } from "./text.ts";

const EXTENDS_DOC =
  "A preset name, or the path of a .yaml, .yml or .json file relative to this file and inside the " +
  "top-level scenario's directory (or a directory allowed by --allow-extends), that this scenario starts " +
  "from; keys written here override it (objects merge key by key, lists and values replace). A preset " +
  "may extend only presets. Resolved when loading.";

const EXTENDS_EXTENSIONS = [".yaml", ".yml", ".json"];
/** Kernel pseudo-file systems: their files claim sizes they do not have, or block. */
const PSEUDO_ROOTS = ["/proc", "/sys", "/dev"];

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = Object.hasOwn(base, k) ? merge(base[k], v) : v;
  return out;
}

/** Where `extends` may read from: the top-level scenario's directory and the --allow-extends ones (real paths). */
interface ExtendsScope {
  roots: readonly string[];
  /** Sources being read (real paths or "preset NAME"), to report cycles. */
  chain: readonly string[];
}

const inside = (path: string, root: string): boolean => {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
};

function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

function readError(path: string, message: string): ScenarioError {
  return new ScenarioError([{ path: "(root)", value: path, message }], path);
}

/**
 * The text of a scenario file that must be a regular file of at most INPUT_LIMITS.bytes: checked by
 * stat before opening (opening a FIFO would block) and again on the open descriptor (the name may
 * have been replaced in between), then read no further than the limit.
 */
function readRegularFile(path: string): string {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw readError(path, `cannot be read: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw readError(path, "is not a regular file (a directory, device, FIFO or socket)");
  if (st.size > INPUT_LIMITS.bytes) {
    throw readError(path, `is ${st.size} bytes; a scenario file may have at most ${INPUT_LIMITS.bytes}`);
  }
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    throw readError(path, `cannot be read: ${(e as Error).message}`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw readError(path, "is not a regular file");
    const buf = Buffer.alloc(INPUT_LIMITS.bytes + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got)
      got = readSync(fd, buf, n, buf.length - n, null);
    if (n > INPUT_LIMITS.bytes) {
      throw readError(path, `holds more than ${INPUT_LIMITS.bytes} bytes; a scenario file may not`);
    }
    return buf.toString("utf8", 0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `extends` by the scenario it names, merged under the rest. `baseDir` resolves relative file
 * names; `preset` says the including scenario is a preset (which may extend only presets).
 */
function resolveExtends(
  raw: unknown,
  baseDir: string,
  origin: string,
  scope: ExtendsScope,
  preset: boolean,
): unknown {
  if (!isPlainObject(raw) || !Object.hasOwn(raw, "extends")) return raw;
  const { extends: target, ...rest } = raw;
  const bad = (message: string): ScenarioError =>
    new ScenarioError([{ path: "extends", value: target, message }], origin);
  if (typeof target !== "string") throw bad(`must be a preset name or a file path; ${EXTENDS_DOC}`);
  let source: string;
  if (isPresetName(target)) source = `preset ${target}`;
  else if (preset)
    throw bad(`must name a preset (${PRESET_NAMES.join(", ")}): a preset extends only presets`);
  else source = extendsFile(target, baseDir, scope, bad);
  if (scope.chain.includes(source)) throw bad(`forms a cycle: ${[...scope.chain, source].join(" → ")}`);
  const inner = { ...scope, chain: [...scope.chain, source] };
  const base = isPresetName(target) ? readPreset(target, inner) : readFile(source, inner);
  if (!isPlainObject(base)) {
    throw bad(`names ${source}, which is not a mapping of scenario keys (a scenario must be one)`);
  }
  return merge(base, rest);
}

/** The real path of an `extends` file, after every rule of EXTENDS_DOC; throws `bad(…)` otherwise. */
function extendsFile(
  target: string,
  baseDir: string,
  scope: ExtendsScope,
  bad: (message: string) => ScenarioError,
): string {
  if (isAbsolute(target)) throw bad("must be a path relative to this file, not an absolute path");
  if (!EXTENDS_EXTENSIONS.includes(extname(target).toLowerCase())) {
    throw bad(`must be a preset name (${PRESET_NAMES.join(", ")}) or a .yaml, .yml or .json file`);
  }
  const path = resolve(baseDir, target);
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    throw bad(`cannot be read (${path}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (PSEUDO_ROOTS.some((r) => inside(real, r))) throw bad(`resolves to ${real}, a kernel pseudo-file`);
  if (!scope.roots.some((r) => inside(real, r))) {
    throw bad(
      `resolves to ${real}, outside ${scope.roots.join(" and ")}; pass --allow-extends DIR to read scenarios elsewhere`,
    );
  }
  return real;
}

function readPreset(name: PresetName, scope: ExtendsScope): unknown {
  const origin = `preset ${name}`;
  const dir = dirname(fileURLToPath(presetUrl(name)));
  return resolveExtends(parseScenarioText(presetText(name), origin, false), dir, origin, scope, true);
}

function readFile(path: string, scope: ExtendsScope): unknown {
  const text = readRegularFile(path);
  const json =
    extname(path).toLowerCase() === ".json" || (extname(path) === "" && text.trimStart().startsWith("{"));
  // An empty file is the all-defaults scenario.
  const raw = parseScenarioText(text, path, json) ?? {};
  return resolveExtends(raw, dirname(path), path, scope, false);
}

export interface ReadOptions {
  /** Directories besides the top-level file's own that `extends` may read from (--allow-extends). */
  allowExtends?: readonly string[];
}

/** Raw contents of a scenario file (YAML, or JSON by extension or content) with `extends` merged in. */
export function readScenarioFile(path: string, opts: ReadOptions = {}): unknown {
  const abs = resolve(path);
  const roots = [realDir(dirname(abs)), ...(opts.allowExtends ?? []).map(realDir)];
  return readFile(abs, { roots, chain: [realDir(abs)] });
}

/** Raw contents of a preset (by name) or a file (by path), with where it came from for messages. */
export function readScenario(nameOrPath: string, opts: ReadOptions = {}): { raw: unknown; origin: string } {
  if (isPresetName(nameOrPath)) {
    const origin = `preset ${nameOrPath}`;
    return { raw: readPreset(nameOrPath, { roots: [], chain: [origin] }), origin };
  }
  if (existsSync(nameOrPath)) return { raw: readScenarioFile(nameOrPath, opts), origin: nameOrPath };
  throw new ScenarioError([
    {
      path: "(root)",
      value: nameOrPath,
      message: `is neither a preset (${PRESET_NAMES.join(", ")}) nor an existing file`,
    },
  ]);
}

/**
 * Validates a raw scenario and returns it resolved: defaults filled, durations in integer ns, sizes
 * in bytes, rates in bit/s, "auto" values computed. `extends` is resolved against presets and the
 * working directory. Throws ScenarioError naming every bad path, its value and what is allowed.
 */
export function parseScenario(input: unknown, origin?: string): Scenario {
  const raw = resolveExtends(
    input,
    process.cwd(),
    origin ?? "(input)",
    { roots: [realDir(process.cwd())], chain: [] },
    false,
  );
  const r = scenarioSchema.safeParse(raw, { reportInput: true });
  if (!r.success) throw new ScenarioError(issuesFromZod(r.error.issues, raw, scenarioSchema), origin);
  return r.data;
}

/** Reads, overrides (`path=value` strings, as for --set) and validates a scenario file. */
export function loadScenarioFile(path: string, overrides: readonly string[] = []): Scenario {
  return parseScenario(applyOverrides(readScenarioFile(path), overrides), path);
}

/** Like loadScenarioFile, for a preset name or a file path. */
export function loadScenario(nameOrPath: string, overrides: readonly string[] = []): Scenario {
  const { raw, origin } = readScenario(nameOrPath);
  return parseScenario(applyOverrides(raw, overrides), origin);
}

/** JSON with object keys sorted at every level; lists keep their order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isPlainObject(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}

/** 16 hex digits of SHA-256 over the canonical JSON of a resolved scenario: equal iff the runs are set up alike. */
export function scenarioHash(s: Scenario): string {
  return createHash("sha256").update(canonicalJson(s)).digest("hex").slice(0, 16);
}

/** The published JSON Schema of scenario files (input side: units as strings, defaults, descriptions). */
export function jsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(scenarioSchema, { io: "input", target: "draft-2020-12" }) as Record<
    string,
    unknown
  >;
  const properties = schema.properties as Record<string, unknown>;
  return {
    ...schema,
    properties: { extends: { type: "string", description: EXTENDS_DOC }, ...properties },
  };
}
