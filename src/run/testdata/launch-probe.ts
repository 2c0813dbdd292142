/** Run by bundle.test.ts through bin/bundled.js: prints its argv and a stack, raw and source-mapped. */
import { fail } from "./worker-probe-dep.ts";

const stackOf = (mapped: boolean): string => {
  process.setSourceMapsEnabled(mapped);
  try {
    fail();
  } catch (e) {
    return (e as Error).stack ?? "";
  }
  return "";
};
process.stdout.write(
  JSON.stringify({ argv: process.argv.slice(2), raw: stackOf(false), mapped: stackOf(true) }),
);
