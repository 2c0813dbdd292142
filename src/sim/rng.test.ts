import { describe, expect, it } from "vitest";
import { Rng, RngError } from "./rng.ts";

/**
 * An independent, deliberately plain re-implementation on BigInt: FNV-1a-style name hash, splitmix32
 * seeding and xoshiro128** (https://prng.di.unimi.it/xoshiro128starstar.c), all mod 2^32.
 */
const M32 = 0xffffffffn;
const mul32 = (x: bigint, y: bigint): bigint => (x * y) & M32;
const rotl32 = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M32;

function refState(seed: number, name: string): bigint[] {
  const lo = BigInt(seed) & M32;
  const hi = (BigInt(seed) >> 32n) & M32;
  let h = mul32(lo ^ 0x2545f491n, 0x01000193n) ^ hi;
  for (const ch of name) h = mul32(h ^ BigInt(ch.charCodeAt(0)), 0x01000193n);
  let w = h;
  const next = (): bigint => {
    w = (w + 0x9e3779b9n) & M32;
    let z = mul32(w ^ (w >> 16n), 0x85ebca6bn);
    z = mul32(z ^ (z >> 13n), 0xc2b2ae35n);
    return z ^ (z >> 16n);
  };
  return [next(), next(), next(), next()];
}

function refXoshiro(s: bigint[], count: number): number[] {
  const out: number[] = [];
  let [s0, s1, s2, s3] = s as [bigint, bigint, bigint, bigint];
  for (let i = 0; i < count; i++) {
    out.push(Number(mul32(rotl32(mul32(s1, 5n), 7n), 9n)));
    const t = (s1 << 9n) & M32;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl32(s3, 11n);
  }
  return out;
}

const draw = (n: number, f: () => number): Float64Array => Float64Array.from({ length: n }, f);

function moments(xs: Float64Array): { mean: number; variance: number } {
  let sum = 0;
  for (const x of xs) sum += x;
  const mean = sum / xs.length;
  let ss = 0;
  for (const x of xs) ss += (x - mean) ** 2;
  return { mean, variance: ss / (xs.length - 1) };
}

function chiSquare(counts: number[], expected: number): number {
  return counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
}

const N = 100_000;

describe("Rng known answers", () => {
  it("the reference xoshiro128** matches the C reference's outputs", () => {
    // State and first outputs produced by the C reference, from edorfaus/xoshiro-6502
    // test-rom/testdata.asm (VerifyStatesXoshiro128 / VerifyValuesXoshiro128, star-star column).
    const state = [0x964d4a0cn, 0xd40ab895n, 0xad7fdecbn, 0x3006f0f0n];
    expect(refXoshiro(state, 4)).toEqual([0xf1391922, 0x6fe53806, 0xa5be2840, 0xf510ee70]);
  });

  it("seed 1, stream 'a' gives the reference sequence, pinned", () => {
    const rng = new Rng(1, "a");
    const got = Array.from({ length: 6 }, () => rng.nextU32());
    expect(got).toEqual(refXoshiro(refState(1, "a"), 6));
    expect(got).toEqual([2147652795, 4260651694, 2207393898, 3909745059, 3756651186, 1035264750]);
  });

  it("matches the reference for seeds above 2^32 and other names", () => {
    for (const [seed, name] of [
      [2 ** 40 + 7, "virtio.rx"],
      [Number.MAX_SAFE_INTEGER, ""],
      [0, "sim.ties"],
    ] as const) {
      const rng = new Rng(seed, name);
      expect(Array.from({ length: 8 }, () => rng.nextU32())).toEqual(refXoshiro(refState(seed, name), 8));
    }
  });
});

describe("Rng streams", () => {
  it("same seed and name give the same sequence", () => {
    const a = new Rng(42, "flow");
    const b = new Rng(42, "flow");
    for (let i = 0; i < 1000; i++) expect(a.nextU32()).toBe(b.nextU32());
  });

  it("different names or seeds give different, uncorrelated sequences", () => {
    const pairs: [Rng, Rng][] = [
      [new Rng(1, "a"), new Rng(1, "b")],
      [new Rng(1, "a"), new Rng(2, "a")],
      [new Rng(7, "host.tap"), new Rng(7, "host.tab")],
    ];
    for (const [x, y] of pairs) {
      const xs = draw(N, () => x.uniform());
      const ys = draw(N, () => y.uniform());
      const mx = moments(xs);
      const my = moments(ys);
      let cov = 0;
      for (let i = 0; i < N; i++) cov += (xs[i]! - mx.mean) * (ys[i]! - my.mean);
      const r = cov / (N - 1) / Math.sqrt(mx.variance * my.variance);
      // sd of r under independence is 1/sqrt(N) ≈ 0.003.
      expect(Math.abs(r)).toBeLessThan(0.02);
      expect(xs).not.toEqual(ys);
    }
  });

  it("creating and consuming one stream leaves another unchanged", () => {
    const alone = new Rng(9, "a");
    const expected = Array.from({ length: 100 }, () => alone.nextU32());
    const a = new Rng(9, "a");
    const got = Array.from({ length: 50 }, () => a.nextU32());
    const b = new Rng(9, "b");
    for (let i = 0; i < 10_000; i++) b.normal();
    got.push(...Array.from({ length: 50 }, () => a.nextU32()));
    expect(got).toEqual(expected);
  });
});

describe("Rng distributions", () => {
  it("uniform lies in [0, 1) with mean 1/2 and variance 1/12", () => {
    const rng = new Rng(3, "u");
    const xs = draw(N, () => rng.uniform());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const m = moments(xs);
    expect(m.mean).toBeCloseTo(0.5, 2);
    expect(m.variance).toBeCloseTo(1 / 12, 2);
  });

  it("uniformRange scales to [a, b)", () => {
    const rng = new Rng(3, "ur");
    const xs = draw(10_000, () => rng.uniformRange(-2, 6));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...xs)).toBeLessThan(6);
    expect(moments(xs).mean).toBeCloseTo(2, 1);
  });

  it("int(n) stays in [0, n) and is unbiased (chi-square)", () => {
    const rng = new Rng(5, "int");
    const counts = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < N; i++) {
      const x = rng.int(10);
      if (Number.isInteger(x) && x >= 0 && x < 10) counts[x]!++;
      else outside++;
    }
    expect(outside).toBe(0);
    // 9 degrees of freedom: P(chi2 > 40) ≈ 7e-6.
    expect(chiSquare(counts, N / 10)).toBeLessThan(40);
  });

  it("int(n) has no modulo bias for n near 2^32", () => {
    // With a plain `x % n`, n = 3·2^30 would make the first third twice as likely as the others.
    const n = 3 * 2 ** 30;
    const rng = new Rng(6, "int-big");
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[Math.floor(rng.int(n) / 2 ** 30)]!++;
    // 2 degrees of freedom: P(chi2 > 25) ≈ 4e-6.
    expect(chiSquare(counts, 10_000)).toBeLessThan(25);
  });

  it("int covers its edge cases", () => {
    const rng = new Rng(8, "edge");
    for (let i = 0; i < 100; i++) expect(rng.int(1)).toBe(0);
    const full = draw(1000, () => rng.int(2 ** 32));
    expect(Math.max(...full)).toBeGreaterThan(2 ** 31);
    expect(full.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)).toBe(true);
  });

  // Tolerances are about five standard errors for N = 1e5 samples.
  it("exponential has mean m and variance m²", () => {
    const rng = new Rng(11, "exp");
    const xs = draw(N, () => rng.exponential(3));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    const m = moments(xs);
    expect(Math.abs(m.mean - 3)).toBeLessThan(0.05);
    expect(Math.abs(m.variance / 9 - 1)).toBeLessThan(0.05);
  });

  it("normal has the given mean and variance", () => {
    const rng = new Rng(12, "normal");
    const xs = draw(N, () => rng.normal(2, 3));
    const m = moments(xs);
    expect(Math.abs(m.mean - 2)).toBeLessThan(0.05);
    expect(Math.abs(m.variance / 9 - 1)).toBeLessThan(0.025);
    const standard = moments(draw(N, () => rng.normal()));
    expect(Math.abs(standard.mean)).toBeLessThan(0.02);
    expect(Math.abs(standard.variance - 1)).toBeLessThan(0.025);
  });

  it("lognormal has mean exp(mu + sigma²/2) and variance (exp(sigma²) - 1)·exp(2mu + sigma²)", () => {
    const rng = new Rng(13, "lognormal");
    const mu = 0.5;
    const sigma = 0.5;
    const m = moments(draw(N, () => rng.lognormal(mu, sigma)));
    expect(Math.abs(m.mean / Math.exp(mu + sigma ** 2 / 2) - 1)).toBeLessThan(0.01);
    const variance = (Math.exp(sigma ** 2) - 1) * Math.exp(2 * mu + sigma ** 2);
    expect(Math.abs(m.variance / variance - 1)).toBeLessThan(0.06);
  });

  it("pareto has support [xm, ∞), mean alpha·xm/(alpha-1), variance and tail as specified", () => {
    const rng = new Rng(14, "pareto");
    const xm = 2;
    const alpha = 6;
    const xs = draw(N, () => rng.pareto(xm, alpha));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(xm);
    const m = moments(xs);
    expect(Math.abs(m.mean / ((alpha * xm) / (alpha - 1)) - 1)).toBeLessThan(0.01);
    const variance = (xm ** 2 * alpha) / ((alpha - 1) ** 2 * (alpha - 2));
    expect(Math.abs(m.variance / variance - 1)).toBeLessThan(0.1);
    // P(X > 2·xm) = 2^-alpha.
    const tail = xs.filter((x) => x > 2 * xm).length / N;
    expect(Math.abs(tail - 2 ** -alpha)).toBeLessThan(0.003);
  });

  it("bernoulli(p) has mean p", () => {
    const rng = new Rng(15, "bernoulli");
    let hits = 0;
    for (let i = 0; i < N; i++) if (rng.bernoulli(0.3)) hits++;
    expect(Math.abs(hits / N - 0.3)).toBeLessThan(0.0075);
    expect(Array.from({ length: 100 }, () => rng.bernoulli(0)).some(Boolean)).toBe(false);
    expect(Array.from({ length: 100 }, () => rng.bernoulli(1)).every(Boolean)).toBe(true);
  });
});

describe("Rng argument errors", () => {
  it("rejects bad seeds", () => {
    for (const seed of [1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY]) {
      expect(() => new Rng(seed, "a")).toThrow(RngError);
    }
  });

  it("rejects bad distribution parameters", () => {
    const rng = new Rng(1, "bad");
    const bad: [string, () => unknown][] = [
      ["int(0)", () => rng.int(0)],
      ["int(1.5)", () => rng.int(1.5)],
      ["int(2^32 + 1)", () => rng.int(2 ** 32 + 1)],
      ["int(NaN)", () => rng.int(Number.NaN)],
      ["bernoulli(-0.1)", () => rng.bernoulli(-0.1)],
      ["bernoulli(1.1)", () => rng.bernoulli(1.1)],
      ["bernoulli(NaN)", () => rng.bernoulli(Number.NaN)],
      ["exponential(-1)", () => rng.exponential(-1)],
      ["exponential(Infinity)", () => rng.exponential(Number.POSITIVE_INFINITY)],
      ["normal sd -1", () => rng.normal(0, -1)],
      ["lognormal sigma NaN", () => rng.lognormal(0, Number.NaN)],
      ["pareto xm 0", () => rng.pareto(0, 2)],
      ["pareto alpha -1", () => rng.pareto(1, -1)],
    ];
    for (const [what, f] of bad) expect(f, what).toThrow(RngError);
  });
});
