import { describe, expect, it } from "vitest";
import { ScenarioError, showValue } from "./errors.ts";
import { applyOverrides } from "./overrides.ts";
import { excerpt, INPUT_LIMITS, parseScenarioText } from "./text.ts";

/** The single issue parseScenarioText reports for `text`, as "path: message". */
function problem(text: string, json = false): string {
  try {
    parseScenarioText(text, "t", json);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    const [i] = (e as ScenarioError).issues;
    return `${i!.path}: ${i!.message}`;
  }
  throw new Error("expected a ScenarioError");
}

describe("parseScenarioText", () => {
  it("reads YAML and JSON alike", () => {
    expect(parseScenarioText("a: 1\nb: [x, {c: true}]\n", "t", false)).toEqual({
      a: 1,
      b: ["x", { c: true }],
    });
    expect(parseScenarioText('{"a": 1, "b": ["x", {"c": true}]}', "t", true)).toEqual({
      a: 1,
      b: ["x", { c: true }],
    });
    expect(parseScenarioText("", "t", false)).toBeNull();
  });

  it("rejects duplicate keys in JSON and YAML, naming both places", () => {
    expect(problem('{"guest": {"memory": "1GiB",\n  "memory": "2GiB"}}', true)).toBe(
      'guest.memory: duplicate key "memory": written at line 1, column 12 and again at line 2, column 3',
    );
    expect(problem("guest:\n  vcpus: 1\n  vcpus: 2\n")).toBe(
      'guest.vcpus: duplicate key "vcpus": written at line 2, column 3 and again at line 3, column 3',
    );
  });

  it("rejects unknown tags and tags whose content would be reshaped", () => {
    expect(problem("seed: !foo 1\n")).toMatch(/^seed: has the tag "!foo" \(line 1, column 12\)/);
    expect(problem("a: !!omap [ {x: 1} ]\n")).toMatch(/^a: has the tag "tag:yaml.org,2002:omap"/);
    expect(problem("a: !!binary aGk=\n")).toMatch(/^a: has the tag/);
    // The core schema's own tags are plain values.
    expect(parseScenarioText("a: !!str 1\n", "t", false)).toEqual({ a: "1" });
  });

  it("rejects recursive and unresolved aliases and merges of non-mappings", () => {
    expect(problem("a: &a [*a]\n")).toBe(
      "a[0]: alias *a (line 1, column 8) refers to a node that contains it",
    );
    expect(problem("a: &a {b: {c: *a}}\n")).toMatch(/^a\.b\.c: alias \*a .* contains it/);
    expect(problem("a: *nope\n")).toBe("a: alias *nope (line 1, column 4) has no anchor");
    expect(problem("a: &x 5\nb: {<<: *x}\n")).toMatch(/^\(root\): is not valid YAML: Merge sources/);
    // A merge of a mapping works and is checked like any mapping.
    expect(parseScenarioText("a: &x {p: 1}\nb: {<<: *x, q: 2}\n", "t", false)).toEqual({
      a: { p: 1 },
      b: { p: 1, q: 2 },
    });
    expect(problem("a: &x {__proto__: 1}\nb: {<<: *x}\n")).toMatch(/^a\.__proto__: key "__proto__"/);
  });

  it("stops alias expansion before it grows exponentially", () => {
    const laughs = ["a: &a [x, x]"];
    for (let i = 1; i < 20; i++)
      laughs.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [*${String.fromCharCode(96 + i)}, *${String.fromCharCode(96 + i)}]`,
      );
    expect(problem(`${laughs.join("\n")}\n`)).toMatch(/^\(root\): is not valid YAML: .*[Aa]lias/);
  });

  it("refuses prototype keys at any depth, in YAML, JSON and --set", () => {
    for (const key of ["__proto__", "constructor", "prototype"]) {
      expect(problem(`${key}: {seed: 3}\n`)).toMatch(
        new RegExp(`^${key}: key "${key}" \\(line 1, column 1\\)`),
      );
      expect(problem(`{"guest": {"${key}": {}}}`, true)).toMatch(new RegExp(`^guest\\.${key}: key "${key}"`));
      expect(() => applyOverrides({}, [`guest.${key}={memory: 1GiB}`])).toThrow(
        `key "${key}" is not allowed`,
      );
      expect(() => applyOverrides({}, [`guest={${key}: {memory: 1GiB}}`])).toThrow(`guest.${key}`);
    }
  });

  it("bounds size, depth, entries and nodes with messages that say the limit", () => {
    expect(problem(`description: "${"x".repeat(INPUT_LIMITS.bytes)}"\n`)).toMatch(/at most 1048576/);
    expect(problem(`${"[".repeat(10_000)}${"]".repeat(10_000)}`, true)).toBe(
      "(root): is nested more than 32 levels deep (line 1, column 33)",
    );
    expect(problem(`a: ${"[".repeat(40)}${"]".repeat(40)}\n`)).toMatch(/nested more than 32 levels/);
    let block = "";
    for (let i = 0; i < 40; i++) block += `${" ".repeat(i)}k:\n`;
    expect(problem(block)).toMatch(/nested more than 32 levels deep$/);
    const many = Array.from({ length: 64_000 }, (_, i) => `k${i}: 1`).join("\n");
    expect(problem(many)).toBe("(root): has 64000 keys; at most 10000 are allowed");
    expect(problem(`a: [${Array.from({ length: 10_001 }, () => "1").join(",")}]`)).toBe(
      "a: has 10001 items; at most 10000 are allowed",
    );
    // Brackets inside quotes and comments do not count.
    expect(parseScenarioText(`a: "${"[".repeat(50)}" # ${"{".repeat(50)}\n`, "t", false)).toEqual({
      a: "[".repeat(50),
    });
  });

  it("quotes only short, escaped excerpts, and shows NaN and Infinity as such", () => {
    expect(excerpt(`a\u202eb\n${"y".repeat(100)}`)).toBe(`"a\\u202eb\\n${"y".repeat(36)}…"`);
    expect(showValue(Number.NaN)).toBe("NaN");
    expect(showValue({ a: Number.POSITIVE_INFINITY, b: [Number.NEGATIVE_INFINITY] })).toBe(
      '{"a":Infinity,"b":[-Infinity]}',
    );
    expect(showValue("x".repeat(200)).length).toBe(80);
    const e = new ScenarioError(
      Array.from({ length: 60 }, (_, i) => ({
        path: `k\u202e${i}`,
        value: undefined,
        message: "bad\u001b[2J",
      })),
    );
    expect(e.message).toContain("  - k\\u202e0: bad\\u001b[2J");
    expect(e.message.includes("\u001b") || e.message.includes("\u202e")).toBe(false);
    expect(e.message.split("\n")).toHaveLength(1 + 50 + 1);
    expect(e.message).toMatch(/… and 10 more$/);
  });
});
