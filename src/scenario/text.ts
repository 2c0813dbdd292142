/**
 * Scenario text → raw value, for input nobody vetted. Parsing is linear in the text and bounded:
 * size, nesting depth, nodes and entries per mapping or list are limited; a duplicate key (JSON or
 * YAML) names both places; unknown tags, recursive aliases and merges that do not resolve are errors,
 * not warnings; and the keys that reach an object's prototype (`__proto__`, `constructor`,
 * `prototype`) are refused wherever they appear, so what validates is what runs.
 *
 * Messages quote at most a short, escaped excerpt of the input (see `excerpt`).
 */
import YAML, { type Document, isAlias, isMap, isPair, isScalar, isSeq, type Node } from "yaml";
import { ScenarioError, showValue } from "./errors.ts";
import { formatPath, type PathSegment } from "./walk.ts";

/** Bounds on what a scenario text may hold; far above any real scenario (the presets are < 4 KiB). */
export const INPUT_LIMITS = {
  /** Bytes of one scenario file or --set value. */
  bytes: 1024 * 1024,
  /** Nested mappings and lists (a scenario needs 5). */
  depth: 32,
  /** Keys, list items and scalars in one text. */
  nodes: 100_000,
  /** Entries in one mapping or list (the longest schema list allows 1000). */
  entries: 10_000,
  /** Alias expansions (the yaml package's maxAliasCount): stops exponential "billion laughs". */
  aliases: 100,
} as const;

/** Keys that name an object's prototype machinery rather than data. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** Tags of the YAML 1.2 core schema (and JSON's): anything else would be dropped or reshaped silently. */
const CORE_TAGS = new Set(
  ["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`),
);

const MAX_EXCERPT = 40;

/** A short, printable excerpt of untrusted text: escaped as showValue does, cut to 40 characters. */
export function excerpt(text: string): string {
  return showValue(text.length > MAX_EXCERPT ? `${text.slice(0, MAX_EXCERPT)}…` : text);
}

function fail(origin: string, path: readonly PathSegment[], message: string): never {
  throw new ScenarioError([{ path: formatPath(path), value: undefined, message }], origin);
}

/**
 * The deepest bracket nesting in flow (JSON-style) text, outside quotes and comments, in one linear
 * pass: the yaml parser recurses per level, so depth is checked before it runs.
 */
function bracketDepthProblem(text: string, json: boolean): string | undefined {
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      lineStart = i + 1;
    } else if (c === 34 || (c === 39 && !json)) {
      // Skip a quoted string ("…" with backslash escapes, '…' with '' as the quote).
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 10) {
          line++;
          lineStart = i + 1;
        }
        if (c === 34 && d === 92) i++;
        else if (d === c) break;
      }
    } else if (c === 35 && !json && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i + 1 < text.length && text.charCodeAt(i + 1) !== 10) i++;
    } else if (c === 91 || c === 123) {
      if (++depth > INPUT_LIMITS.depth) {
        return `is nested more than ${INPUT_LIMITS.depth} levels deep (line ${line}, column ${i - lineStart + 1})`;
      }
    } else if (c === 93 || c === 125) {
      depth = Math.max(depth - 1, 0);
    }
  }
  return undefined;
}

/** "line 3, column 5" of a node or of an offset. */
function where(lc: YAML.LineCounter, offset: number | undefined): string {
  if (offset === undefined) return "an unknown place";
  const p = lc.linePos(offset);
  return `line ${p.line}, column ${p.col}`;
}

/** The key of a mapping entry as the data will see it, or undefined when it is not a scalar. */
function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

/**
 * Walks the parsed document once (aliases are checked, not followed, so the walk is linear) and
 * throws on the first problem, naming its path and place.
 */
function checkDocument(doc: Document, lc: YAML.LineCounter, origin: string): void {
  let nodes = 0;
  const visit = (node: unknown, path: PathSegment[], ancestors: Node[]): void => {
    if (++nodes > INPUT_LIMITS.nodes) {
      fail(origin, path, `the text holds more than ${INPUT_LIMITS.nodes} keys and values`);
    }
    if (path.length > INPUT_LIMITS.depth) {
      fail(origin, path, `is nested more than ${INPUT_LIMITS.depth} levels deep`);
    }
    if (node === null || node === undefined) return;
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (target === undefined) {
        fail(origin, path, `alias *${node.source} (${where(lc, node.range?.[0])}) has no anchor`);
      }
      if (ancestors.includes(target as Node)) {
        fail(
          origin,
          path,
          `alias *${node.source} (${where(lc, node.range?.[0])}) refers to a node that contains it`,
        );
      }
      return;
    }
    const n = node as Node;
    if (n.tag !== undefined && !CORE_TAGS.has(n.tag)) {
      fail(
        origin,
        path,
        `has the tag ${excerpt(n.tag)} (${where(lc, n.range?.[0])}); only plain mappings, lists, ` +
          "strings, numbers, booleans and null are allowed",
      );
    }
    const inner = [...ancestors, n];
    if (isMap(n)) {
      if (n.items.length > INPUT_LIMITS.entries) {
        fail(origin, path, `has ${n.items.length} keys; at most ${INPUT_LIMITS.entries} are allowed`);
      }
      const seen = new Map<string, number | undefined>();
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const key = keyText(pair.key);
        const at = (pair.key as Node | null)?.range?.[0];
        if (key === undefined) {
          fail(origin, path, `has a key that is not a plain string (${where(lc, at)})`);
        }
        if (key === "<<" && isAlias(pair.value)) {
          // A merge key: its source must be a mapping (checked by the yaml package when converting).
          visit(pair.value, path, inner);
          continue;
        }
        if (FORBIDDEN_KEYS.has(key)) {
          fail(
            origin,
            [...path, key],
            `key ${excerpt(key)} (${where(lc, at)}) is not allowed: it names object internals, not data`,
          );
        }
        const first = seen.get(key);
        if (seen.has(key)) {
          fail(
            origin,
            [...path, key],
            `duplicate key ${excerpt(key)}: written at ${where(lc, first)} and again at ${where(lc, at)}`,
          );
        }
        seen.set(key, at);
        visit(pair.value, [...path, key], inner);
      }
    } else if (isSeq(n)) {
      if (n.items.length > INPUT_LIMITS.entries) {
        fail(origin, path, `has ${n.items.length} items; at most ${INPUT_LIMITS.entries} are allowed`);
      }
      n.items.forEach((item, i) => visit(item, [...path, i], inner));
    }
  };
  visit(doc.contents, [], []);
}

/** A yaml package error in our words: its first line and place, without the source lines it quotes. */
function yamlMessage(e: { message: string; pos?: readonly number[] }, lc: YAML.LineCounter): string {
  const first = e.message.split("\n")[0]!.replace(/:$/, "");
  if (first.startsWith("Maximum call stack")) return `nested more than the parser can follow`;
  return e.pos === undefined || / at line \d+/.test(first) ? first : `${first} at ${where(lc, e.pos[0])}`;
}

/**
 * Parses scenario text (JSON when `json`, else YAML 1.2) into a raw value, or throws ScenarioError
 * naming the path and place of the first problem. Empty text is null.
 */
export function parseScenarioText(text: string, origin: string, json: boolean): unknown {
  const kind = json ? "JSON" : "YAML";
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > INPUT_LIMITS.bytes) {
    fail(origin, [], `is ${bytes} bytes; a scenario may have at most ${INPUT_LIMITS.bytes}`);
  }
  const deep = bracketDepthProblem(text, json);
  if (deep !== undefined) fail(origin, [], deep);
  let jsonValue: unknown;
  if (json) {
    try {
      jsonValue = JSON.parse(text);
    } catch (e) {
      fail(origin, [], `is not valid JSON: ${(e as Error).message.slice(0, 120)}`);
    }
  }
  const lc = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, {
    lineCounter: lc,
    prettyErrors: false,
    // Duplicates are found by checkDocument in linear time (the package's own check is quadratic).
    uniqueKeys: false,
    merge: !json,
    schema: json ? "json" : "core",
  });
  const error = doc.errors[0];
  if (error !== undefined) fail(origin, [], `is not valid ${kind}: ${yamlMessage(error, lc)}`);
  // Before the warnings, so an unknown tag is reported with its path.
  checkDocument(doc, lc, origin);
  const warning = doc.warnings[0];
  if (warning !== undefined) fail(origin, [], `is not valid ${kind}: ${yamlMessage(warning, lc)}`);
  if (json) return jsonValue;
  try {
    return doc.toJS({ maxAliasCount: INPUT_LIMITS.aliases });
  } catch (e) {
    // Merge sources that are not mappings, or too many alias expansions.
    return fail(origin, [], `is not valid YAML: ${yamlMessage(e as Error, lc)}`);
  }
}
