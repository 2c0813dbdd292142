/**
 * Navigation of the scenario schema by path, for messages ("allowed keys here: …") and for --set
 * overrides. It sees through the wrappers the schema uses (default, prefault, optional, pipes from
 * transforms) to the object, array and union nodes underneath.
 */
import { z } from "zod";

export type PathSegment = string | number;

/** The schema node under defaults, optionals and transforms. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional) {
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodPipe) {
      s = s.in as z.ZodType;
    } else {
      return s;
    }
  }
}

/** The object nodes a value at `schema` may be: the object itself, or the object branches of a union. */
function objectsOf(schema: z.ZodType): z.ZodObject[] {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject) return [s];
  if (s instanceof z.ZodUnion) return (s.options as z.ZodType[]).flatMap(objectsOf);
  return [];
}

/** Keys allowed in the object at `schema`, or undefined when it is not an object. */
export function keysOf(schema: z.ZodType): string[] | undefined {
  const objects = objectsOf(schema);
  return objects.length === 0 ? undefined : objects.flatMap((o) => Object.keys(o.shape));
}

/** The schema of `key` inside `schema` (an object key or an array index), or undefined. */
export function child(schema: z.ZodType, key: PathSegment): z.ZodType | undefined {
  if (typeof key === "number") {
    const s = unwrap(schema);
    return s instanceof z.ZodArray ? (s.element as z.ZodType) : undefined;
  }
  for (const o of objectsOf(schema)) {
    // Own keys only: "__proto__" or "constructor" must not find Object.prototype's.
    if (Object.hasOwn(o.shape, key)) return (o.shape as Record<string, z.ZodType>)[key];
  }
  return undefined;
}

/** The schema at `path` from `root`, or undefined if the path leaves the schema. */
export function schemaAt(root: z.ZodType, path: readonly PathSegment[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = root;
  for (const seg of path) {
    if (s === undefined) return undefined;
    s = child(s, seg);
  }
  return s;
}

/** The value at `path` inside a plain JSON-like value, or undefined. */
export function valueAt(value: unknown, path: readonly PathSegment[]): unknown {
  let v = value;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PathSegment, unknown>)[seg];
  }
  return v;
}

/** "network.senders[1].rtt"; the root is "(root)". */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out === "" ? "(root)" : out;
}

/** The closest key to a misspelt one (edit distance ≤ 2, or a case-insensitive match). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const dist = c.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, c);
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
