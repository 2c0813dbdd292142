/** A worker task for bundle.test.ts: how the worker loaded its modules. */
import { depUrl, fail } from "./worker-probe-dep.ts";

export default function probe(): { esm: boolean; depUrl: string; stack: string } {
  let stack = "";
  try {
    fail();
  } catch (e) {
    stack = (e as Error).stack ?? "";
  }
  // CommonJS modules see a `module` binding; ES modules do not.
  return { esm: typeof module === "undefined", depUrl, stack };
}
