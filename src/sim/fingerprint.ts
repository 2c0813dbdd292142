/**
 * A running hash of the event trace (OMNeT++/INET fingerprints): two independent 32-bit
 * multiply-xorshift lanes over (time, event type, key fields). Two runs with equal fingerprints
 * executed the same events at the same times in the same order.
 */
export class Fingerprint {
  private h1 = 0x811c9dc5 | 0;
  private h2 = 0x9e3779b9 | 0;

  /** Mixes one 32-bit integer. */
  mix(x: number): void {
    let a = (this.h1 ^ x) | 0;
    a = Math.imul(a, 0x01000193);
    this.h1 = a ^ (a >>> 15);
    let b = (this.h2 + x) | 0;
    b = Math.imul(b ^ (b >>> 16), 0x85ebca6b);
    this.h2 = b ^ (b >>> 13);
  }

  /** Mixes a non-negative safe integer such as a time in ns (as two 32-bit halves). */
  mixNumber(x: number): void {
    this.mix(x >>> 0);
    this.mix(Math.floor(x / 4294967296) | 0);
  }

  mixEvent(time: number, type: number, a: number, b: number): void {
    this.mixNumber(time);
    this.mix(type);
    this.mix(a | 0);
    // b may be any safe integer (a time, a large id): mix all of it.
    this.mixNumber(b);
  }

  /** 16 hex digits. */
  digest(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, "0") + (this.h2 >>> 0).toString(16).padStart(8, "0");
  }
}
