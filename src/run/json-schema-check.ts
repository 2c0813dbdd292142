/**
 * A small JSON Schema validator for the keywords that Kubernetes' generated schemas use (the
 * "standalone-strict" schemas of kubernetes-json-schema, as kubeconform reads them): type (one or a list,
 * "integer" meaning a whole number), enum, properties, additionalProperties (false or a schema), required,
 * items, maxLength and oneOf. Other keywords (format, descriptions, x-kubernetes-*) are ignored. It
 * checks docs/cluster/k8s-indexed-job.yaml against the pinned Job schema without a Kubernetes cluster
 * and without a validator package.
 */

export interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  items?: JsonSchema;
  maxLength?: number;
  oneOf?: JsonSchema[];
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function hasType(v: unknown, type: string): boolean {
  if (type === "integer") return Number.isInteger(v);
  return typeOf(v) === type;
}

/** The problems of `value` against `schema`, each as "path: what is wrong" (none when it is valid). */
export function checkJsonSchema(schema: JsonSchema, value: unknown, path = "$"): string[] {
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => hasType(value, t)))
      return [`${path}: ${JSON.stringify(value)} is ${typeOf(value)}, not ${types.join(" or ")}`];
  }
  const errors: string[] = [];
  if (schema.enum !== undefined && !schema.enum.some((e) => e === value))
    errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (schema.maxLength !== undefined && typeof value === "string" && value.length > schema.maxLength)
    errors.push(`${path}: "${value}" is longer than ${schema.maxLength} characters`);
  if (schema.oneOf !== undefined) {
    const matching = schema.oneOf.filter((s) => checkJsonSchema(s, value, path).length === 0).length;
    if (matching !== 1)
      errors.push(`${path}: ${JSON.stringify(value)} matches ${matching} of oneOf's schemas, not 1`);
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    const items = schema.items;
    value.forEach((v, i) => errors.push(...checkJsonSchema(items, v, `${path}[${i}]`)));
  }
  if (typeOf(value) === "object") {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? [])
      if (!(key in object)) errors.push(`${path}: required field "${key}" is missing`);
    for (const [key, v] of Object.entries(object)) {
      const property = schema.properties?.[key];
      const at = `${path}.${key}`;
      if (property !== undefined) errors.push(...checkJsonSchema(property, v, at));
      else if (schema.additionalProperties === false) {
        const allowed = Object.keys(schema.properties ?? {}).join(", ");
        errors.push(`${at}: unknown field (allowed: ${allowed})`);
      } else if (typeof schema.additionalProperties === "object")
        errors.push(...checkJsonSchema(schema.additionalProperties, v, at));
    }
  }
  return errors;
}
