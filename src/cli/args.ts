/** Parsers of the CLI's option values (commander calls them; a bad value is exit 2 with the message). */
import { InvalidArgumentError } from "commander";
import { parseSize } from "../scenario/units.ts";

/** A repeatable option's values (without a default, the first value starts the list). */
export function collect(v: string, acc: string[] = []): string[] {
  return [...acc, v];
}

export function splitList(v: string): string[] {
  const list = v
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  if (list.length === 0) throw new InvalidArgumentError("expected a comma-separated list");
  return list;
}

export function parseSeed(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new InvalidArgumentError(`expected an integer ≥ 0, got "${v}"`);
  return n;
}

export function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new InvalidArgumentError(`expected an integer 1..1000, got "${v}"`);
  return n;
}

export function parseSizeArg(v: string): number {
  try {
    return parseSize(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}
