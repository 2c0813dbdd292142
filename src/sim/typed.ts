/** Typed-array helpers for the model's struct-of-arrays state. */

/** A copy of `a` in a new array of the same type and length `n` ≥ a.length (typed arrays cannot grow). */
export function grown<T extends Uint8Array | Int32Array | Float64Array>(a: T, n: number): T {
  const b = new (a.constructor as new (length: number) => T)(n);
  b.set(a);
  return b;
}
