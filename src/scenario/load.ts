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
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { z } from "zod";
import { issuesFromZod, ScenarioError } from "./errors.ts";
import { applyOverrides } from "./overrides.ts";
import { isPresetName, PRESET_NAMES, type PresetName, presetText, presetUrl } from "./presets.ts";
import { type Scenario, scenarioSchema } from "./schema.ts";

const EXTENDS_DOC =
  "A preset name or a file path (relative to this file) that this scenario starts from; keys written " +
  "here override it (objects merge key by key, lists and values replace). Resolved when loading.";

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? merge(base[k], v) : v;
  return out;
}

function parseText(text: string, origin: string, json: boolean): unknown {
  try {
    return json ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    const kind = json ? "JSON" : "YAML";
    throw new ScenarioError(
      [{ path: "(root)", value: undefined, message: `is not valid ${kind}: ${(e as Error).message}` }],
      origin,
    );
  }
}

/**
 * Replaces `extends` by the scenario it names, merged under the rest. `baseDir` resolves relative file
 * names; `chain` holds the sources already being read, to report cycles.
 */
function resolveExtends(raw: unknown, baseDir: string, origin: string, chain: readonly string[]): unknown {
  if (!isPlainObject(raw) || !("extends" in raw)) return raw;
  const { extends: target, ...rest } = raw;
  if (typeof target !== "string") {
    throw new ScenarioError(
      [{ path: "extends", value: target, message: `must be a preset name or a file path; ${EXTENDS_DOC}` }],
      origin,
    );
  }
  const source = isPresetName(target) ? `preset ${target}` : resolve(baseDir, target);
  if (chain.includes(source)) {
    throw new ScenarioError(
      [{ path: "extends", value: target, message: `forms a cycle: ${[...chain, source].join(" → ")}` }],
      origin,
    );
  }
  const base = isPresetName(target)
    ? readPreset(target, [...chain, source])
    : readFile(source, [...chain, source]);
  return merge(base, rest);
}

function readPreset(name: PresetName, chain: readonly string[]): unknown {
  const origin = `preset ${name}`;
  const dir = dirname(fileURLToPath(presetUrl(name)));
  return resolveExtends(parseText(presetText(name), origin, false), dir, origin, chain);
}

function readFile(path: string, chain: readonly string[]): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ScenarioError(
      [{ path: "(root)", value: path, message: `cannot be read: ${(e as Error).message}` }],
      path,
    );
  }
  const json =
    extname(path).toLowerCase() === ".json" || (extname(path) === "" && text.trimStart().startsWith("{"));
  // An empty file is the all-defaults scenario.
  const raw = parseText(text, path, json) ?? {};
  return resolveExtends(raw, dirname(path), path, chain);
}

/** Raw contents of a scenario file (YAML, or JSON by extension or content) with `extends` merged in. */
export function readScenarioFile(path: string): unknown {
  const abs = resolve(path);
  return readFile(abs, [abs]);
}

/** Raw contents of a preset (by name) or a file (by path), with where it came from for messages. */
export function readScenario(nameOrPath: string): { raw: unknown; origin: string } {
  if (isPresetName(nameOrPath)) {
    return { raw: readPreset(nameOrPath, [`preset ${nameOrPath}`]), origin: `preset ${nameOrPath}` };
  }
  if (existsSync(nameOrPath)) return { raw: readScenarioFile(nameOrPath), origin: nameOrPath };
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
  const raw = resolveExtends(input, process.cwd(), origin ?? "(input)", []);
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
