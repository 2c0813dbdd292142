/**
 * Errors across worker threads. A worker's thrown error reaches the main thread through structured
 * clone, which keeps only the built-in Error classes: a ModelError would arrive as a plain Error, and
 * the CLI would no longer tell a model error from a crash. Workers return the error as data (name,
 * message, stack and a VirtqueueError's kind) and the main thread rebuilds the class.
 */
import { ModelError } from "../sim/simulator.ts";
import { VirtqueueError, type VirtqueueErrorKind } from "../virtio/errors.ts";

export interface SerialisedError {
  name: string;
  message: string;
  stack: string | undefined;
  /** VirtqueueError's kind. */
  kind?: VirtqueueErrorKind;
}

export function serialiseError(e: unknown): SerialisedError {
  const err = e instanceof Error ? e : new Error(String(e));
  return {
    name: err.name,
    message: err.message,
    stack: err.stack,
    ...(err instanceof VirtqueueError && { kind: err.kind }),
  };
}

/** The error as the worker threw it: ModelError and VirtqueueError as their classes, others by name. */
export function rebuildError(s: SerialisedError): Error {
  let err: Error;
  if (s.name === "ModelError") err = new ModelError(s.message);
  else if (s.kind !== undefined) {
    err = new VirtqueueError(s.kind, "");
    err.message = s.message;
  } else {
    err = new Error(s.message);
    err.name = s.name;
  }
  if (s.stack !== undefined) err.stack = s.stack;
  return err;
}
