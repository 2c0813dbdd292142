export * from "./costs.ts";
export * from "./kernel.ts";
export * from "./lock.ts";
export * from "./napi.ts";
export * from "./workqueue.ts";
