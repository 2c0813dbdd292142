/**
 * Quantities with units, as scenario files write them: durations ("30s", "500ms") → integer ns,
 * sizes ("512MiB", "1GB") → integer bytes, rates ("1Gbit/s", "400MB/s") → integer bit/s.
 *
 * A unit is always required: a bare number is ambiguous (ns or s? bytes or KiB?), so it is an error
 * that says which units exist. Parsing is exact decimal arithmetic (BigInt), so "0.1s" is exactly
 * 100000000 ns and a value that is not a whole number of the base unit ("1.5ns") is rejected rather
 * than rounded. Kilo is the SI lowercase "k" (1000); binary multiples use IEC names (KiB = 1024);
 * "KB", "K" and "M" alone are rejected as ambiguous.
 */

export class UnitError extends RangeError {
  override name = "UnitError";
}

export interface UnitKind {
  /** What the quantity is, for messages ("a duration"). */
  readonly noun: string;
  /** Base unit of the parsed integer ("ns"). */
  readonly base: string;
  /** Unit name → multiplier in base units. */
  readonly units: ReadonlyMap<string, bigint>;
  /** Examples shown in error messages. */
  readonly examples: string;
}

const pow = (b: bigint, e: number): bigint => b ** BigInt(e);

export const DURATION_KIND: UnitKind = {
  noun: "a duration",
  base: "ns",
  units: new Map([
    ["ns", 1n],
    ["us", 1_000n],
    ["µs", 1_000n],
    ["ms", 1_000_000n],
    ["s", 1_000_000_000n],
    ["m", 60_000_000_000n],
    ["h", 3_600_000_000_000n],
  ]),
  examples: '"30s", "500ms", "1.5s", "2us", "100ns", "1m"',
};

export const SIZE_KIND: UnitKind = {
  noun: "a size",
  base: "B",
  units: new Map([
    ["B", 1n],
    ["KiB", pow(1024n, 1)],
    ["MiB", pow(1024n, 2)],
    ["GiB", pow(1024n, 3)],
    ["TiB", pow(1024n, 4)],
    ["kB", pow(1000n, 1)],
    ["MB", pow(1000n, 2)],
    ["GB", pow(1000n, 3)],
    ["TB", pow(1000n, 4)],
  ]),
  examples: '"512MiB", "64KiB", "4096B", "1GB"',
};

/** Bit rates are decimal (IEEE 802.3 speaks of Mb/s = 10^6 bit/s); byte rates are ×8. */
export const RATE_KIND: UnitKind = {
  noun: "a rate",
  base: "bit/s",
  units: new Map([
    ["bit/s", 1n],
    ["kbit/s", pow(1000n, 1)],
    ["Mbit/s", pow(1000n, 2)],
    ["Gbit/s", pow(1000n, 3)],
    ["Tbit/s", pow(1000n, 4)],
    ["bps", 1n],
    ["kbps", pow(1000n, 1)],
    ["Mbps", pow(1000n, 2)],
    ["Gbps", pow(1000n, 3)],
    ["Tbps", pow(1000n, 4)],
    ["B/s", 8n],
    ["kB/s", 8n * pow(1000n, 1)],
    ["MB/s", 8n * pow(1000n, 2)],
    ["GB/s", 8n * pow(1000n, 3)],
    ["KiB/s", 8n * pow(1024n, 1)],
    ["MiB/s", 8n * pow(1024n, 2)],
    ["GiB/s", 8n * pow(1024n, 3)],
  ]),
  examples: '"1Gbit/s", "100Mbit/s", "10Gbps", "400MB/s"',
};

/** Units that people write but that are ambiguous or wrong here, with the fix. */
const HINTS: ReadonlyMap<string, string> = new Map([
  ["KB", 'write "kB" for 1000 bytes or "KiB" for 1024 bytes'],
  ["K", 'write "kB" (1000) or "KiB" (1024)'],
  ["M", 'write "MB" (10^6) or "MiB" (2^20)'],
  ["G", 'write "GB" (10^9) or "GiB" (2^30)'],
  ["Kbit/s", 'write "kbit/s" (SI kilo is lowercase)'],
  ["Kbps", 'write "kbps" (SI kilo is lowercase)'],
  ["KB/s", 'write "kB/s" (1000 B/s) or "KiB/s" (1024 B/s)'],
  ["sec", 'write "s"'],
  ["min", 'write "m"'],
  ["mbps", 'write "Mbps" (lowercase m would be milli)'],
  ["mbit/s", 'write "Mbit/s" (lowercase m would be milli)'],
  ["gbps", 'write "Gbps"'],
  ["b", 'write "B" for bytes'],
]);

const QUANTITY = /^(\d+)(?:\.(\d+))?\s*([^\d\s.]\S*)$/;
const BARE_NUMBER = /^\d+(\.\d+)?$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** What a kind accepts, for error messages and schema descriptions. */
export function allowedText(kind: UnitKind): string {
  return `${kind.noun}: a non-negative number with a unit (${[...kind.units.keys()].join(", ")}), e.g. ${kind.examples}`;
}

/** A JSON Schema `pattern` for editors; `tryParseQuantity` stays the authority (it explains failures). */
export function unitPattern(kind: UnitKind): string {
  // Unit names contain no regex metacharacters ("/" is literal outside a regex literal).
  return `^[0-9]+(\\.[0-9]+)?\\s*(${[...kind.units.keys()].join("|")})$`;
}

/**
 * Parses `value` as a quantity of `kind`, or returns a short reason it cannot ("unknown unit "x"") that
 * never repeats the value; callers add the value and `allowedText(kind)`.
 */
export function tryParseQuantity(kind: UnitKind, value: unknown): { value: number } | { reason: string } {
  if (typeof value === "number") return { reason: "a unit is required" };
  if (typeof value !== "string")
    return { reason: `got ${value === null ? "null" : typeof value}, not a string` };
  const m = QUANTITY.exec(value.trim());
  if (m === null) {
    return {
      reason: BARE_NUMBER.test(value.trim()) ? "a unit is required" : "not a number followed by a unit",
    };
  }
  const [, whole = "", frac = "", unit = ""] = m;
  const mult = kind.units.get(unit);
  if (mult === undefined) {
    const hint = HINTS.get(unit);
    return { reason: `unknown unit "${unit}"${hint ? ` (${hint})` : ""}` };
  }
  const scale = pow(10n, frac.length);
  const scaled = (BigInt(whole) * scale + BigInt(frac === "" ? "0" : frac)) * mult;
  if (scaled % scale !== 0n) return { reason: `not a whole number of ${kind.base}` };
  const exact = scaled / scale;
  if (exact > MAX_SAFE) return { reason: `too large (more than ${Number.MAX_SAFE_INTEGER} ${kind.base})` };
  return { value: Number(exact) };
}

function parseQuantity(kind: UnitKind, value: unknown): number {
  const r = tryParseQuantity(kind, value);
  if ("reason" in r) {
    throw new UnitError(
      `${JSON.stringify(value) ?? String(value)}: ${r.reason}; expected ${allowedText(kind)}`,
    );
  }
  return r.value;
}

/** "30s" → 30000000000 (ns). Units: ns, us, µs, ms, s, m (minutes), h. */
export const parseDuration = (text: unknown): number => parseQuantity(DURATION_KIND, text);
/** "512MiB" → 536870912 (bytes). Units: B, KiB…TiB (×1024), kB…TB (×1000). */
export const parseSize = (text: unknown): number => parseQuantity(SIZE_KIND, text);
/** "1Gbit/s" → 1e9, "400MB/s" → 3.2e9 (bit/s). Bit units are decimal; byte units are ×8. */
export const parseRate = (text: unknown): number => parseQuantity(RATE_KIND, text);

/** Exact decimal form of n/d (d > 0); every unit here is 2^a·5^b, so the expansion terminates. */
function exactRatio(n: bigint, d: bigint): string {
  const whole = n / d;
  let r = n % d;
  let digits = "";
  while (r !== 0n) {
    r *= 10n;
    digits += (r / d).toString();
    r %= d;
  }
  return digits === "" ? whole.toString() : `${whole}.${digits}`;
}

/** Rounded form of n/d with at most `decimals` decimals, trailing zeros trimmed. */
function roundedRatio(n: number, d: number, decimals: number): string {
  const s = (n / d).toFixed(decimals);
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/**
 * Formats `value` with one of `units` (largest first). Exact mode (no `decimals`) picks the shortest
 * exact spelling among units not larger than the value, so parse(format(x)) === x. With `decimals`,
 * it uses the largest unit not larger than the value and rounds.
 */
function formatWith(value: number, units: readonly (readonly [string, number])[], decimals?: number): string {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new UnitError(`cannot format ${value}: expected a non-negative safe integer`);
  }
  const fitting = units.filter(([, m]) => m <= value);
  const smallest = units[units.length - 1]!;
  if (fitting.length === 0) return `${value / smallest[1]}${smallest[0]}`;
  if (decimals !== undefined) {
    const [name, m] = fitting[0]!;
    return `${roundedRatio(value, m, decimals)}${name}`;
  }
  let best = "";
  for (const [name, m] of fitting) {
    const s = `${exactRatio(BigInt(value), BigInt(m))}${name}`;
    if (best === "" || s.length < best.length) best = s;
  }
  return best;
}

const DURATION_FORMAT = [
  ["s", 1e9],
  ["ms", 1e6],
  ["us", 1e3],
  ["ns", 1],
] as const;
const SIZE_FORMAT_BINARY = [
  ["TiB", 1024 ** 4],
  ["GiB", 1024 ** 3],
  ["MiB", 1024 ** 2],
  ["KiB", 1024],
  ["B", 1],
] as const;
const SIZE_FORMAT_ALL = [...SIZE_FORMAT_BINARY, ["TB", 1e12], ["GB", 1e9], ["MB", 1e6], ["kB", 1e3]] as const;
const RATE_FORMAT = [
  ["Tbit/s", 1e12],
  ["Gbit/s", 1e9],
  ["Mbit/s", 1e6],
  ["kbit/s", 1e3],
  ["bit/s", 1],
] as const;
const BYTE_RATE_FORMAT = [
  ["GB/s", 8e9],
  ["MB/s", 8e6],
  ["kB/s", 8e3],
  ["B/s", 8],
] as const;

const byMultiplierDesc = <T extends readonly [string, number]>(a: T, b: T): number => b[1] - a[1];

/** 1500000000 → "1.5s"; with `decimals`, rounded ("1.235s"). */
export function formatDuration(ns: number, decimals?: number): string {
  return formatWith(ns, DURATION_FORMAT, decimals);
}

/** 536870912 → "512MiB", 1e9 → "1GB" (exact: shortest of binary/decimal); with `decimals`, binary units. */
export function formatSize(bytes: number, decimals?: number): string {
  return decimals === undefined
    ? formatWith(bytes, [...SIZE_FORMAT_ALL].sort(byMultiplierDesc), undefined)
    : formatWith(bytes, SIZE_FORMAT_BINARY, decimals);
}

/** 1e9 → "1Gbit/s"; `bytes: true` prints byte rates (2.4e8 → "30MB/s") when the value is a whole byte count. */
export function formatRate(bps: number, opts: { decimals?: number; bytes?: boolean } = {}): string {
  if (opts.bytes && bps % 8 === 0) return formatWith(bps, BYTE_RATE_FORMAT, opts.decimals);
  return formatWith(bps, RATE_FORMAT, opts.decimals);
}
