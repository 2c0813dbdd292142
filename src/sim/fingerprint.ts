/**
 * A running hash of the event trace (OMNeT++/INET fingerprints): two independent 32-bit
 * multiply-xorshift lanes over (time, event type, key fields). Two runs with equal fingerprints
 * executed the same events at the same times in the same order.
 */

const TWO_32 = 4294967296;

/** One step of lane 1 (FNV-1a-like multiply, then xorshift). */
function lane1(h: number, x: number): number {
  const a = Math.imul((h ^ x) | 0, 0x01000193);
  return a ^ (a >>> 15);
}

/** One step of lane 2 (murmur3-like add, xorshift-multiply, xorshift). */
function lane2(h: number, x: number): number {
  const b = (h + x) | 0;
  const m = Math.imul(b ^ (b >>> 16), 0x85ebca6b);
  return m ^ (m >>> 13);
}

export class Fingerprint {
  private h1 = 0x811c9dc5 | 0;
  private h2 = 0x9e3779b9 | 0;

  /** Mixes one 32-bit integer. */
  mix(x: number): void {
    this.h1 = lane1(this.h1, x);
    this.h2 = lane2(this.h2, x);
  }

  /** Mixes a non-negative safe integer such as a time in ns (as two 32-bit halves). */
  mixNumber(x: number): void {
    this.mix(x >>> 0);
    this.mix(Math.floor(x / TWO_32) | 0);
  }

  /**
   * mixNumber(time), mix(type), mix(a | 0), mixNumber(b), on local copies of the lanes: it runs for
   * every event, and six field round trips per event cost more than the hashing.
   */
  mixEvent(time: number, type: number, a: number, b: number): void {
    // time is a non-negative safe integer: truncation is its floor.
    const tHi = (time / TWO_32) | 0;
    const tLo = time >>> 0;
    // b may be any safe integer (a time, a large id): mix all of it.
    const bHi = Math.floor(b / TWO_32) | 0;
    const bLo = b >>> 0;
    const ai = a | 0;
    let h1 = lane1(this.h1, tLo);
    h1 = lane1(h1, tHi);
    h1 = lane1(h1, type);
    h1 = lane1(h1, ai);
    h1 = lane1(h1, bLo);
    this.h1 = lane1(h1, bHi);
    let h2 = lane2(this.h2, tLo);
    h2 = lane2(h2, tHi);
    h2 = lane2(h2, type);
    h2 = lane2(h2, ai);
    h2 = lane2(h2, bLo);
    this.h2 = lane2(h2, bHi);
  }

  /** 16 hex digits. */
  digest(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, "0") + (this.h2 >>> 0).toString(16).padStart(8, "0");
  }
}
