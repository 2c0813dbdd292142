/**
 * The library as plain Node imports it (`import { run } from "vnetlab"`): src/index.ts from the
 * same kind of bundle the CLI runs, built once and reused while the sources are unchanged
 * (bundled.js), so no TypeScript loader is needed and the model runs as fast as the CLI's. Types
 * come from src/index.ts (package.json "exports"); src/index.test.ts checks that the names below
 * are exactly its values.
 */
import { fileURLToPath } from "node:url";
import { runBundled } from "./bundled.js";

const lib = await runBundled(fileURLToPath(new URL("../src/index.ts", import.meta.url)), false);

export const {
  checkChromeTrace,
  compare,
  DEFAULT_TRACE_EVENTS,
  driverNames,
  formatCompareTable,
  formatRunTable,
  formatTraceLine,
  jsonSchema,
  listPresets,
  loadScenario,
  parseScenario,
  renderCompareReport,
  resolveScenario,
  run,
  runScenario,
  ScenarioError,
  scenarioHash,
  selectTracepoints,
  System,
  TRACEPOINTS,
  trace,
  traceRecords,
  traceToString,
  tracepointName,
  writeReportAtomic,
} = lib;
