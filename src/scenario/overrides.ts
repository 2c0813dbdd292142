/**
 * `--set path=value` overrides applied to a raw (unparsed) scenario before validation. Paths are
 * checked against the schema here, so a typo fails with the valid keys at that level; values are
 * YAML (so "256MiB" is a string, "true" a boolean, "[1, 2]" a list) and are validated by the schema
 * afterwards like anything written in the file.
 */
import type { z } from "zod";
import { ScenarioError, type ScenarioIssue } from "./errors.ts";
import { scenarioSchema } from "./schema.ts";
import { FORBIDDEN_KEYS, parseScenarioText } from "./text.ts";
import { child, closest, formatPath, keysOf, type PathSegment } from "./walk.ts";

const PART = /^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$/;

/** "network.senders[1].rtt" (or "network.senders.1.rtt") → ["network", "senders", 1, "rtt"]. */
export function parsePath(text: string): PathSegment[] | undefined {
  const path: PathSegment[] = [];
  for (const part of text.split(".")) {
    if (/^\d+$/.test(part)) {
      path.push(Number(part));
      continue;
    }
    const m = PART.exec(part);
    if (m === null) return undefined;
    path.push(m[1]!);
    for (const idx of (m[2] ?? "").matchAll(/\[(\d+)\]/g)) path.push(Number(idx[1]));
  }
  return path;
}

/** The path that `path=value` sets, or undefined when it names none (applyOverrides then says why). */
export function assignmentPath(assignment: string): PathSegment[] | undefined {
  const eq = assignment.indexOf("=");
  const path = eq < 0 ? undefined : parsePath(assignment.slice(0, eq).trim());
  return path === undefined || path.length === 0 ? undefined : path;
}

/** Why `path` does not exist in the scenario schema, or undefined if it does. */
function pathProblem(path: readonly PathSegment[]): string | undefined {
  let s: z.ZodType = scenarioSchema;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const here = formatPath(path.slice(0, i));
    if (typeof seg === "string" && FORBIDDEN_KEYS.has(seg)) {
      return `key "${seg}" is not allowed: it names object internals, not data`;
    }
    const next = child(s, seg);
    if (next === undefined) {
      if (typeof seg === "number") return `${here} is not a list, so it has no index [${seg}]`;
      const keys = keysOf(s);
      if (keys === undefined) return `${here} is a single value, so it has no key "${seg}"`;
      const guess = closest(seg, keys);
      return `unknown key "${seg}"${guess ? ` (did you mean "${guess}"?)` : ""}; valid keys in ${here}: ${keys.join(", ")}`;
    }
    s = next;
  }
  return undefined;
}

const isRecord = (v: unknown): v is Record<PathSegment, unknown> => v !== null && typeof v === "object";

/** Sets `value` at `path` inside `root` (mutated), creating containers; returns a problem or undefined. */
function setAt(
  root: Record<string, unknown>,
  path: readonly PathSegment[],
  value: unknown,
): string | undefined {
  let container: Record<PathSegment, unknown> = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (typeof seg === "number") {
      const list = container as unknown as unknown[];
      if (seg > list.length) {
        return `index ${seg} is past the end of ${formatPath(path.slice(0, i))} (${list.length} items; use 0 to ${list.length})`;
      }
    }
    if (i === path.length - 1) {
      container[seg] = value;
      return undefined;
    }
    const wantList = typeof path[i + 1] === "number";
    let next = container[seg];
    if (!isRecord(next) || Array.isArray(next) !== wantList) {
      next = wantList ? [] : {};
      container[seg] = next;
    }
    container = next as Record<PathSegment, unknown>;
  }
  return undefined;
}

/**
 * Applies `path=value` assignments to a copy of `raw` (a scenario as read from YAML/JSON, not yet
 * validated). Throws ScenarioError listing every bad assignment.
 */
export function applyOverrides(raw: unknown, assignments: readonly string[]): unknown {
  if (raw !== undefined && raw !== null && (!isRecord(raw) || Array.isArray(raw))) {
    throw new ScenarioError([{ path: "(root)", value: raw, message: "must be a mapping of keys to values" }]);
  }
  const result = (raw === undefined || raw === null ? {} : structuredClone(raw)) as Record<string, unknown>;
  const issues: ScenarioIssue[] = [];
  for (const assignment of assignments) {
    const eq = assignment.indexOf("=");
    if (eq < 0) {
      issues.push({
        path: assignment,
        value: undefined,
        message: "expected path=value, e.g. guest.memory=256MiB",
      });
      continue;
    }
    const pathText = assignment.slice(0, eq).trim();
    const valueText = assignment.slice(eq + 1);
    const path = parsePath(pathText);
    if (path === undefined || path.length === 0) {
      issues.push({
        path: pathText,
        value: valueText,
        message:
          'is not a path; write keys separated by dots with list indexes in brackets, e.g. "network.senders[0].rtt"',
      });
      continue;
    }
    const problem = pathProblem(path);
    if (problem !== undefined) {
      issues.push({ path: pathText, value: valueText, message: problem });
      continue;
    }
    let value: unknown;
    try {
      value = parseScenarioText(valueText, "--set", false);
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      for (const i of e.issues) {
        const at = i.path === "(root)" ? pathText : `${pathText}.${i.path}`.replace(".[", "[");
        issues.push({ path: at, value: valueText, message: i.message });
      }
      continue;
    }
    const setProblem = setAt(result, path, value);
    if (setProblem !== undefined) issues.push({ path: pathText, value: valueText, message: setProblem });
  }
  if (issues.length > 0) throw new ScenarioError(issues, "in --set overrides");
  return result;
}
