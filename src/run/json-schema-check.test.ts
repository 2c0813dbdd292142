import { describe, expect, test } from "vitest";
import { checkJsonSchema, type JsonSchema } from "./json-schema-check.ts";

const schema: JsonSchema = {
  type: "object",
  required: ["kind"],
  additionalProperties: false,
  properties: {
    kind: { type: ["string", "null"], enum: ["Job"] },
    name: { type: "string", maxLength: 5 },
    completions: { type: ["integer", "null"] },
    labels: { type: "object", additionalProperties: { type: "string" } },
    args: { type: "array", items: { type: "string" } },
    cpu: { oneOf: [{ type: "string" }, { type: "integer" }] },
  },
};

describe("checkJsonSchema", () => {
  test("accepts a value that fits, null where the type allows it", () => {
    const ok = { kind: "Job", name: "a", completions: 8, labels: { a: "b" }, args: ["x"], cpu: "2" };
    expect(checkJsonSchema(schema, ok)).toEqual([]);
    expect(checkJsonSchema(schema, { kind: "Job", completions: null, cpu: 2 })).toEqual([]);
  });

  test("names the path of each problem", () => {
    expect(checkJsonSchema(schema, { kind: "Pod" })).toEqual(['$.kind: "Pod" is not one of ["Job"]']);
    expect(checkJsonSchema(schema, {})).toEqual(['$: required field "kind" is missing']);
    expect(checkJsonSchema(schema, { kind: "Job", completion: 8 })[0]).toMatch(
      /^\$\.completion: unknown field/,
    );
    expect(checkJsonSchema(schema, { kind: "Job", completions: "8" })).toEqual([
      '$.completions: "8" is string, not integer or null',
    ]);
    expect(checkJsonSchema(schema, { kind: "Job", completions: 1.5 })).toHaveLength(1);
    expect(checkJsonSchema(schema, { kind: "Job", name: "toolong" })).toEqual([
      '$.name: "toolong" is longer than 5 characters',
    ]);
    expect(checkJsonSchema(schema, { kind: "Job", labels: { a: 1 } })).toEqual([
      "$.labels.a: 1 is number, not string",
    ]);
    expect(checkJsonSchema(schema, { kind: "Job", args: ["x", 2] })).toEqual([
      "$.args[1]: 2 is number, not string",
    ]);
    expect(checkJsonSchema(schema, { kind: "Job", cpu: true })[0]).toMatch(/matches 0 of oneOf/);
  });
});
