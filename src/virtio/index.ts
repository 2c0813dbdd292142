export * from "./device.ts";
export * from "./driver.ts";
export * from "./errors.ts";
export * from "./indirect.ts";
export * from "./layout.ts";
export * from "./mock.ts";
