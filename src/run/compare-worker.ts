/** A worker thread's task for parallel compare: one run, returned as plain data. */
import {
  type Budget,
  type ResolveOptions,
  runScenario,
  resolveScenario,
  type ScenarioSource,
} from "./run.ts";
import type { RunSummary } from "./types.ts";

export interface CompareTask {
  source: ScenarioSource;
  resolve: ResolveOptions;
  /** The caller's budget (default: defaultBudget() in the worker). */
  budget?: Budget;
}

export default function runCompareTask(task: CompareTask): RunSummary {
  return runScenario(resolveScenario(task.source, task.resolve), task.budget ? { budget: task.budget } : {});
}
