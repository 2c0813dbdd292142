/** A worker thread's task for parallel compare: one run, returned as plain data (its error too). */
import {
  type Budget,
  type ResolveOptions,
  runScenario,
  resolveScenario,
  type ScenarioSource,
} from "./run.ts";
import type { RunSummary } from "./types.ts";
import { type SerialisedError, serialiseError } from "./worker-errors.ts";

export interface CompareTask {
  source: ScenarioSource;
  resolve: ResolveOptions;
  /** The caller's budget (default: defaultBudget() in the worker). */
  budget?: Budget;
}

export type CompareOutcome = { summary: RunSummary } | { error: SerialisedError };

export default function runCompareTask(task: CompareTask): CompareOutcome {
  try {
    const s = resolveScenario(task.source, task.resolve);
    return { summary: runScenario(s, task.budget ? { budget: task.budget } : {}) };
  } catch (e) {
    return { error: serialiseError(e) };
  }
}
