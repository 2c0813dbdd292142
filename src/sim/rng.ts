/**
 * Seeded random numbers: xoshiro128** (Blackman & Vigna) on 32-bit integer arithmetic, so the same
 * seed gives the same sequence on every machine. Each consumer takes its own stream, derived from
 * (seed, stream name) through splitmix32, so adding a draw in one model never shifts another's.
 */

function hashString(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  return h | 0;
}

/** splitmix32: a well-mixed 32-bit sequence used only to seed xoshiro state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

export class RngError extends RangeError {
  override name = "RngError";
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal = Number.NaN;

  /** A stream for (seed, name). The seed is any safe integer. */
  constructor(seed: number, name: string) {
    if (!Number.isSafeInteger(seed)) throw new RngError(`seed must be a safe integer, got ${seed}`);
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) | 0;
    const st = { s: hashString(name, Math.imul(lo ^ 0x2545f491, 0x01000193) ^ hi) };
    this.s0 = splitmix32(st);
    this.s1 = splitmix32(st);
    this.s2 = splitmix32(st);
    this.s3 = splitmix32(st);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9);
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [a, b). */
  uniformRange(a: number, b: number): number {
    return a + (b - a) * this.uniform();
  }

  /** Uniform integer in [0, n), 1 ≤ n ≤ 2^32, by rejection (no modulo bias). */
  int(n: number): number {
    if (!(Number.isInteger(n) && n >= 1 && n <= 4294967296)) {
      throw new RngError(`int(n) needs an integer 1 ≤ n ≤ 2^32, got ${n}`);
    }
    const limit = Math.floor(4294967296 / n) * n;
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  bernoulli(p: number): boolean {
    if (!(p >= 0 && p <= 1)) throw new RngError(`bernoulli(p) needs 0 ≤ p ≤ 1, got ${p}`);
    return this.uniform() < p;
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    if (!(mean >= 0 && mean < Infinity))
      throw new RngError(`exponential mean must be finite and ≥ 0, got ${mean}`);
    return -mean * Math.log(1 - this.uniform());
  }

  /** Normal via Box–Muller; the second value is kept for the next call. */
  normal(mean = 0, sd = 1): number {
    if (!(sd >= 0 && sd < Infinity)) throw new RngError(`normal sd must be finite and ≥ 0, got ${sd}`);
    if (!Number.isNaN(this.spareNormal)) {
      const z = this.spareNormal;
      this.spareNormal = Number.NaN;
      return mean + sd * z;
    }
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + sd * r * Math.cos(2 * Math.PI * v);
  }

  /** Lognormal: exp(N(mu, sigma)). */
  lognormal(mu: number, sigma: number): number {
    return Math.exp(this.normal(mu, sigma));
  }

  /** Pareto with scale xm and shape alpha. */
  pareto(xm: number, alpha: number): number {
    if (!(xm > 0 && alpha > 0)) throw new RngError(`pareto needs xm > 0 and alpha > 0, got ${xm}, ${alpha}`);
    return xm / (1 - this.uniform()) ** (1 / alpha);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
