export * from "./event-queue.ts";
export * from "./fingerprint.ts";
export * from "./rng.ts";
export * from "./simulator.ts";
export * from "./time.ts";
