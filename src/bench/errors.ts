/** A bench asked for something invalid: an unknown suite, a bad axis value (exit 2 in the CLI). */
export class BenchError extends Error {
  override name = "BenchError";
}
