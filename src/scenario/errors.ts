/**
 * Scenario errors: every problem names the path, the value found there and what is allowed. zod's
 * issues are rewritten into that form here (its default wording names neither the value nor, for
 * unknown keys, the keys that would have been accepted).
 */
import type { z } from "zod";
import { closest, formatPath, keysOf, type PathSegment, schemaAt, valueAt } from "./walk.ts";

export interface ScenarioIssue {
  /** Where, e.g. "guest.driver.ringSize" or "network.senders[1].rtt"; "(root)" for the whole file. */
  path: string;
  /** The value found there (undefined when missing); for a defaulted field, the default. */
  value: unknown;
  /** What is wrong and what is allowed. */
  message: string;
  /** True when the field was not written and `value` is its default. */
  defaulted?: boolean;
}

export class ScenarioError extends Error {
  override name = "ScenarioError";
  constructor(
    readonly issues: readonly ScenarioIssue[],
    readonly origin?: string,
  ) {
    super(formatIssues(issues, origin));
  }
}

const MAX_VALUE_CHARS = 80;
/** Problems listed in a message; a file with thousands of bad entries names the first ones. */
const MAX_ISSUES_SHOWN = 50;

/** Marks NaN and ±Infinity inside JSON text, which would otherwise print as null. */
const NON_FINITE = "\u0000nonfinite:";

/**
 * The value as short JSON: NaN and Infinity as such, control, bidi and line-separator characters
 * escaped, cut to 80 characters (messages must not replay hostile input).
 */
export function showValue(v: unknown): string {
  let s: string;
  try {
    s =
      JSON.stringify(v, (_k, x: unknown) =>
        typeof x === "number" && !Number.isFinite(x) ? `${NON_FINITE}${x}` : x,
      ) ?? String(v);
  } catch {
    s = `(${typeof v})`;
  }
  return printable(s.replace(/"\\u0000nonfinite:([^"]*)"/g, "$1"), MAX_VALUE_CHARS);
}

/** Control, bidi and line-separator characters, which would let input rewrite the terminal or the message. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Text that may carry pieces of the input (keys in paths, parser messages): escaped and bounded. */
function printable(text: string, max: number): string {
  const s = text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function formatIssue(i: ScenarioIssue): string {
  const path = printable(i.path, 200);
  const message = printable(i.message, 2000);
  if (i.value === undefined) return `${path}: ${message}`;
  return `${path} = ${showValue(i.value)}${i.defaulted ? " (default)" : ""}: ${message}`;
}

export function formatIssues(issues: readonly ScenarioIssue[], origin?: string): string {
  const head = `invalid scenario${origin ? ` ${origin}` : ""}: ${issues.length} problem${issues.length === 1 ? "" : "s"}`;
  const shown = issues.slice(0, MAX_ISSUES_SHOWN).map((i) => `  - ${formatIssue(i)}`);
  const rest = issues.length - shown.length;
  return [head, ...shown, ...(rest > 0 ? [`  … and ${rest} more`] : [])].join("\n");
}

const TYPE_TEXT: Record<string, string> = {
  object: "a mapping of keys to values",
  array: "a list",
  string: "a string",
  number: "a number",
  boolean: "true or false",
};

/** A union branch that failed only because the value has another type or literal: it says nothing. */
const wrongShape = (branch: readonly z.core.$ZodIssue[]): boolean =>
  branch.every((b) => b.path.length === 0 && (b.code === "invalid_type" || b.code === "invalid_value"));

/**
 * Replaces a union failure by the issues of the one branch whose shape the value had ("bulk" or
 * { bytes }: an object with a bad key should hear about the key), keeping paths absolute.
 */
function expandUnions(issues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[]): z.core.$ZodIssue[] {
  return issues.flatMap((iss) => {
    const path = [...base, ...iss.path];
    if (iss.code === "invalid_union") {
      const matching = iss.errors.filter((branch) => !wrongShape(branch));
      if (matching.length === 1) return expandUnions(matching[0]!, path);
    }
    return [{ ...iss, path }];
  });
}

/** Rewrites zod issues against `root` into ScenarioIssues; `raw` is the input that was parsed. */
export function issuesFromZod(
  issues: readonly z.core.$ZodIssue[],
  raw: unknown,
  root: z.ZodType,
): ScenarioIssue[] {
  const out: ScenarioIssue[] = [];
  for (const iss of expandUnions(issues, [])) {
    const path = iss.path as PathSegment[];
    if (iss.code === "unrecognized_keys") {
      const allowed = keysOf(schemaAt(root, path) ?? root) ?? [];
      for (const key of iss.keys) {
        const guess = closest(key, allowed);
        out.push({
          path: formatPath([...path, key]),
          value: valueAt(raw, [...path, key]),
          message:
            `unknown key "${key}"${guess ? ` (did you mean "${guess}"?)` : ""}; ` +
            `allowed keys in ${formatPath(path)}: ${allowed.join(", ")}`,
        });
      }
      continue;
    }
    const written = valueAt(raw, path);
    const defaulted = written === undefined && iss.input !== undefined;
    let message = iss.message;
    if (iss.code === "invalid_type" && message.startsWith("Invalid input")) {
      const keys = iss.expected === "object" ? keysOf(schemaAt(root, path) ?? root) : undefined;
      message = `must be ${TYPE_TEXT[iss.expected] ?? iss.expected}${keys ? ` (keys: ${keys.join(", ")})` : ""}`;
    }
    if (written === undefined && !defaulted) message = `is required; ${message}`;
    out.push({
      path: formatPath(path),
      value: defaulted ? iss.input : written,
      message,
      ...(defaulted ? { defaulted: true } : {}),
    });
  }
  return out;
}
