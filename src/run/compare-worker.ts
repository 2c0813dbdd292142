/** A worker thread's task for parallel compare: one run, returned as plain data (its error too). */
import { type ResolveOptions, runScenario, resolveScenario, type ScenarioSource } from "./run.ts";
import type { RunSummary } from "./types.ts";
import { type SerialisedError, serialiseError } from "./worker-errors.ts";

export interface CompareTask {
  source: ScenarioSource;
  resolve: ResolveOptions;
}

export type CompareOutcome = { summary: RunSummary } | { error: SerialisedError };

export default function runCompareTask(task: CompareTask): CompareOutcome {
  try {
    return { summary: runScenario(resolveScenario(task.source, task.resolve)) };
  } catch (e) {
    return { error: serialiseError(e) };
  }
}
