import { describe, expect, test } from "vitest";
import { ModelError } from "../sim/simulator.ts";
import { VirtqueueError } from "../virtio/errors.ts";
import { rebuildError, serialiseError } from "./worker-errors.ts";

/** What a worker's result goes through on its way to the main thread (piscina posts it on a MessagePort). */
const acrossThreads = <T>(x: T): T => structuredClone(x);

describe("errors across worker threads", () => {
  test("a thrown ModelError would arrive as a plain Error: the reason for serialising", () => {
    expect(acrossThreads(new ModelError("boom"))).not.toBeInstanceOf(ModelError);
  });

  test("ModelError comes back as ModelError, with its message and the worker's stack", () => {
    const original = new ModelError("refill_work livelock");
    const back = rebuildError(acrossThreads(serialiseError(original)));
    expect(back).toBeInstanceOf(ModelError);
    expect(back.name).toBe("ModelError");
    expect(back.message).toBe(original.message);
    expect(back.stack).toBe(original.stack);
  });

  test("VirtqueueError keeps its kind and message", () => {
    const original = new VirtqueueError("used-id-not-head", "vq: id 3");
    const back = rebuildError(acrossThreads(serialiseError(original)));
    expect(back).toBeInstanceOf(VirtqueueError);
    expect((back as VirtqueueError).kind).toBe("used-id-not-head");
    expect(back.message).toBe(original.message);
  });

  test("any other error keeps its name, which is how the CLI picks the exit code", () => {
    const original = new Error("1 problem");
    original.name = "ScenarioError";
    const back = rebuildError(acrossThreads(serialiseError(original)));
    expect([back.name, back.message]).toEqual(["ScenarioError", "1 problem"]);
    expect(rebuildError(serialiseError("thrown string")).message).toBe("thrown string");
  });
});
