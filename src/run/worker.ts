/**
 * The sweep's worker task (a piscina worker thread): resolve one point's scenario, run it, and hand
 * back the store's columns ready to insert, so the single writer thread only commits. A model error
 * is an outcome (a failed run with its message), not a worker crash.
 */
import { scenarioHash as hashScenario } from "../scenario/load.ts";
import { resolveScenario, runScenario } from "./run.ts";
import { encodeRun, type RunRecord } from "./store.ts";
import { sourceHash } from "./sweep-identity.ts";

/** The code this worker loaded; the sweep refuses records made by other code than its campaign's. */
const LOADED_SOURCE = sourceHash();

export interface TaskResult {
  record: RunRecord;
  sourceHash: string;
}

export interface RunTask {
  /** The campaign's raw scenario and where it came from (for messages). */
  raw: unknown;
  origin: string;
  /** The sweep's --set overrides, then the point's grid values. */
  set: string[];
  seed: number;
  /** Point key, passed through to the record. */
  point: string;
}

export default function runTask(task: RunTask): TaskResult {
  return { record: runPoint(task), sourceHash: LOADED_SOURCE };
}

function runPoint(task: RunTask): RunRecord {
  const start = performance.now();
  let scenarioHash: string | null = null;
  try {
    const s = resolveScenario({ raw: task.raw, origin: task.origin }, { set: task.set, seed: task.seed });
    scenarioHash = hashScenario(s);
    return encodeRun(task.point, runScenario(s));
  } catch (e) {
    const err = e as Error;
    return {
      point: task.point,
      seed: task.seed,
      status: "failed",
      scenarioHash,
      fingerprint: null,
      summary: null,
      // The stack says where in the model it failed; its first line is "name: message".
      error: err.stack ?? `${err.name}: ${err.message}`,
      wallMs: performance.now() - start,
      series: [],
    };
  }
}
