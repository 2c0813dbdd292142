export * from "./link.ts";
export * from "./packet.ts";
export * from "./sampler.ts";
export * from "./tcp-cong.ts";
export * from "./tcp-sender.ts";
export * from "./testbed.ts";
export * from "./remote-receiver.ts";
