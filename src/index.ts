/** The vnetlab library: the CLI is a thin shell over these. */
export { compare, resolveScenario, run, runScenario } from "./run/run.ts";
export type { CompareOptions, ResolveOptions, RunOptions, ScenarioSource } from "./run/run.ts";
export type { CompareResult, FlowSummary, RunSummary, Series, StallSummary } from "./run/types.ts";
export { System } from "./run/system.ts";
export { jsonSchema, loadScenario, parseScenario, scenarioHash } from "./scenario/load.ts";
export { listPresets } from "./scenario/presets.ts";
export { ScenarioError } from "./scenario/errors.ts";
export type { Scenario } from "./scenario/schema.ts";
export {
  formatCompareTable,
  formatRunTable,
  renderCompareReport,
  writeReportAtomic,
} from "./report/index.ts";
export { driverNames } from "./guest/net/virtio_net/versions/index.ts";
export { DEFAULT_TRACE_EVENTS, trace, traceRecords, traceToString } from "./run/trace.ts";
export type { TraceFormat, TraceOptions } from "./run/trace.ts";
export { selectTracepoints, TRACEPOINTS, tracepointName } from "./sim/trace.ts";
export type { TraceRecord } from "./sim/trace.ts";
export { checkChromeTrace, formatTraceLine } from "./report/trace-format.ts";
