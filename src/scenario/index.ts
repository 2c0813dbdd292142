/** The scenario layer: schema, units, loading, overrides, presets. */
export { type ScenarioIssue, ScenarioError, formatIssues } from "./errors.ts";
export { expandFlows, type FlowSpec } from "./flows.ts";
export {
  canonicalJson,
  jsonSchema,
  loadScenario,
  loadScenarioFile,
  parseScenario,
  readScenario,
  readScenarioFile,
  scenarioHash,
} from "./load.ts";
export { applyOverrides, assignmentPath, parsePath } from "./overrides.ts";
export { isPresetName, listPresets, PRESET_NAMES, type PresetName, presetText } from "./presets.ts";
export * from "./schema.ts";
export * from "./units.ts";
export { formatPath } from "./walk.ts";
