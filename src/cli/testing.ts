/** Test helper: an Io that keeps what the CLI writes, for tests that call main() in-process. */
import type { Io } from "./main.ts";

export interface CapturedIo extends Io {
  stdout: string;
  stderr: string;
}

export function capture(isTTY = false): CapturedIo {
  const c: CapturedIo = {
    stdout: "",
    stderr: "",
    isTTY,
    out: (s) => {
      c.stdout += s;
    },
    err: (s) => {
      c.stderr += s;
    },
  };
  return c;
}
