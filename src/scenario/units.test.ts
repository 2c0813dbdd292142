import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatDuration,
  formatRate,
  formatSize,
  parseDuration,
  parseRate,
  parseSize,
  UnitError,
  unitPattern,
  DURATION_KIND,
} from "./units.ts";

describe("parseDuration", () => {
  it.each([
    ["30s", 30_000_000_000],
    ["500ms", 500_000_000],
    ["2us", 2_000],
    ["2µs", 2_000],
    ["100ns", 100],
    ["1.5s", 1_500_000_000],
    ["0.1s", 100_000_000],
    ["1m", 60_000_000_000],
    ["2h", 7_200_000_000_000],
    ["0s", 0],
    ["1.5 s", 1_500_000_000],
  ])("%s → %d ns", (text, ns) => {
    expect(parseDuration(text)).toBe(ns);
  });

  it.each([
    ["30", "a unit is required"],
    ["1.5ns", "not a whole number of ns"],
    ["-1s", "not a number followed by a unit"],
    ["1e3s", 'unknown unit "e3s"'],
    ["30sec", 'unknown unit "sec" (write "s")'],
    ["s", "not a number followed by a unit"],
    ["", "not a number followed by a unit"],
    ["99999999999h", "too large"],
  ])("rejects %j (%s)", (text, reason) => {
    expect(() => parseDuration(text)).toThrow(UnitError);
    expect(() => parseDuration(text)).toThrow(reason);
    expect(() => parseDuration(text)).toThrow("ns, us, µs, ms, s, m, h");
  });

  it("rejects non-strings, saying a unit is required for bare numbers", () => {
    expect(() => parseDuration(30)).toThrow("a unit is required");
    expect(() => parseDuration(null)).toThrow("got null, not a string");
  });
});

describe("parseSize", () => {
  it.each([
    ["512MiB", 512 * 1024 ** 2],
    ["64KiB", 65_536],
    ["4096B", 4096],
    ["1GB", 1e9],
    ["1kB", 1000],
    ["1.5KiB", 1536],
    ["2TiB", 2 * 1024 ** 4],
  ])("%s → %d bytes", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each([
    ["1KB", "KiB"],
    ["1K", "KiB"],
    ["1M", "MiB"],
    ["1.1B", "not a whole number of B"],
    ["1 b", 'write "B" for bytes'],
    ["1Gbit/s", 'unknown unit "Gbit/s"'],
  ])("rejects %j with a hint (%s)", (text, hint) => {
    expect(() => parseSize(text)).toThrow(hint);
  });
});

describe("parseRate", () => {
  it.each([
    ["1Gbit/s", 1e9],
    ["100Mbit/s", 1e8],
    ["10Gbps", 1e10],
    ["400MB/s", 3.2e9],
    ["1KiB/s", 8192],
    ["1.5kbit/s", 1500],
  ])("%s → %d bit/s", (text, bps) => {
    expect(parseRate(text)).toBe(bps);
  });

  it.each([
    ["1Kbps", "SI kilo is lowercase"],
    ["1mbps", "milli"],
    ["1GB", 'unknown unit "GB"'],
    ["0.5bit/s", "not a whole number of bit/s"],
  ])("rejects %j (%s)", (text, reason) => {
    expect(() => parseRate(text)).toThrow(reason);
  });
});

describe("formatters", () => {
  it.each([
    [1_500_000_000, "1.5s"],
    [100_000_000, "100ms"],
    [2_000, "2us"],
    [0, "0ns"],
    [1_234_567_891, "1.234567891s"],
  ])("formatDuration(%d) = %s", (ns, text) => {
    expect(formatDuration(ns)).toBe(text);
  });

  it("rounds durations when asked", () => {
    expect(formatDuration(1_234_567_891, 3)).toBe("1.235s");
    expect(formatDuration(2_000_000, 3)).toBe("2ms");
  });

  it.each([
    [512 * 1024 ** 2, "512MiB"],
    [1e9, "1GB"],
    [1536, "1536B"],
    [1_572_864, "1.5MiB"],
    [87380, "87380B"],
    [0, "0B"],
  ])("formatSize(%d) = %s", (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  it("formats rates in bits, or bytes on request", () => {
    expect(formatRate(1e9)).toBe("1Gbit/s");
    expect(formatRate(2.4e8)).toBe("240Mbit/s");
    expect(formatRate(2.4e8, { bytes: true })).toBe("30MB/s");
    expect(formatRate(1_234_567, { decimals: 2 })).toBe("1.23Mbit/s");
  });

  it("refuses what is not a non-negative safe integer", () => {
    expect(() => formatDuration(-1)).toThrow(UnitError);
    expect(() => formatSize(1.5)).toThrow(UnitError);
  });

  it("exact formatting round-trips through parsing", () => {
    const value = fc.nat({ max: Number.MAX_SAFE_INTEGER });
    fc.assert(
      fc.property(value, (x) => {
        expect(parseDuration(formatDuration(x))).toBe(x);
        expect(parseSize(formatSize(x))).toBe(x);
        expect(parseRate(formatRate(x))).toBe(x);
      }),
    );
  });
});

describe("unitPattern", () => {
  it("accepts what the parser accepts and rejects bare numbers", () => {
    const re = new RegExp(unitPattern(DURATION_KIND), "u");
    expect(re.test("1.5s")).toBe(true);
    expect(re.test("500ms")).toBe(true);
    expect(re.test("30")).toBe(false);
  });
});
