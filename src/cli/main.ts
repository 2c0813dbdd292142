/**
 * The `vnetlab` command line: parses argv with commander and calls the library API. Nothing here
 * models anything; exit codes: 0 success, 2 bad input or usage, 1 model or internal error.
 */
import { join } from "node:path";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import cliProgress from "cli-progress";
import { formatCompareTable, formatRunTable, renderCompareReport } from "../report/index.ts";
import { checkOutputTarget, writeFileAtomic } from "../report/write.ts";
import { type ComparePool, compareParallel, comparePool } from "../run/compare-pool.ts";
import {
  type Budget,
  checkBudget,
  compare,
  defaultBudget,
  MAX_OUTPUT_CHARS,
  resolveScenario,
  runScenario,
} from "../run/run.ts";
import { traceToString } from "../run/trace.ts";
import type { CompareResult, RunSummary } from "../run/types.ts";
import { jsonSchema, readScenario } from "../scenario/load.ts";
import { assignmentPath } from "../scenario/overrides.ts";
import { formatPath } from "../scenario/walk.ts";
import { listPresets } from "../scenario/presets.ts";
import { registerBenchCommand } from "./bench-command.ts";
import { formatWarning, type Scenario, scenarioWarnings } from "../scenario/schema.ts";
import { registerSweepCommands } from "./sweep-commands.ts";
import { registerTraceCommand } from "./trace-command.ts";
import { collect, parseCount, parseSeed, parseSizeArg, splitList } from "./args.ts";

/** The drivers the headline comparison runs: the kernel's versions and the best policy of ours (not in Linux). */
export const DEFAULT_DRIVERS = ["v3.2", "patch1", "rfc-v1", "mainline", "adaptive-retry"];

/**
 * The headline scenarios: the seed's workload, and the same driver under memory that reclaim
 * cannot free (where the versions differ; see docs/results.md).
 */
export const HEADLINE_PRESETS = ["seed-torrent", "probe-under-pressure"];

/** Options every command that reads a scenario and runs it takes. */
interface ScenarioCliOptions {
  set: string[];
  allowExtends: string[];
  maxMemory?: number;
  maxOutput?: number;
}

interface RunCliOptions extends ScenarioCliOptions {
  trace?: string;
  driver?: string;
  seed?: number;
  duration?: string;
  out?: string;
  json?: boolean;
}

interface CompareCliOptions extends ScenarioCliOptions {
  drivers: string[];
  seeds: number;
  /** Worker threads; 1 runs in this thread with per-run progress. */
  jobs?: number;
  duration?: string;
  out?: string;
  json?: boolean;
}

function runOpts(o: { driver?: string; seed?: number; duration?: string; set: string[] }) {
  return {
    set: o.set,
    ...(o.driver !== undefined && { driver: o.driver }),
    ...(o.seed !== undefined && { seed: o.seed }),
    ...(o.duration !== undefined && { duration: o.duration }),
  };
}

/** The budget a command runs under: the defaults, with --max-memory and --max-output. */
function budgetOf(o: ScenarioCliOptions): Budget {
  const d = defaultBudget();
  return { memoryBytes: o.maxMemory ?? d.memoryBytes, outputChars: o.maxOutput ?? d.outputChars };
}

/**
 * Rejects two flags that set the same scenario field (`--seed 1 --set seed=2`, or one path in two
 * --set), which would otherwise be settled silently by their order.
 */
function checkFlagConflicts(
  set: readonly string[],
  flags: Readonly<Record<string, string | undefined>>,
): void {
  const seen = new Map<string, string>();
  for (const [path, flag] of Object.entries(flags)) if (flag !== undefined) seen.set(path, flag);
  for (const assignment of set) {
    const parsed = assignmentPath(assignment);
    if (parsed === undefined) continue; // reported with the scenario's other problems
    const path = formatPath(parsed);
    const earlier = seen.get(path);
    if (earlier !== undefined) {
      throw new UsageError(`--set ${assignment} conflicts with ${earlier}: both set ${path}; give one`);
    }
    seen.set(path, `--set ${assignment}`);
  }
}

/** Reads the scenario once (presets, files and their `extends`), for every run of the command. */
function readSource(scenario: string, o: ScenarioCliOptions): { raw: unknown; origin: string } {
  return readScenario(scenario, { allowExtends: o.allowExtends });
}

/** Checks every output file of a command before it runs. */
async function checkOutputs(dir: string | undefined, names: readonly string[]): Promise<void> {
  if (dir === undefined) return;
  for (const name of names) await checkOutputTarget(join(dir, name));
}

/** A progress bar on stderr, only when stderr is a terminal. */
function progressBar(
  io: Io,
  label: string,
): { update(fraction: number, text?: string): void; stop(): void } | null {
  if (!io.isTTY) return null;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {text} | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(1000, 0, { text: "" });
  return {
    update: (f, text = "") => bar.update(Math.round(f * 1000), { text }),
    stop: () => bar.stop(),
  };
}

async function doCompare(io: Io, scenario: string, o: CompareCliOptions): Promise<void> {
  const pending = await beginCompare(io, scenario, o, null);
  await pending.report(await pending.result);
}

/** A compare whose runs are under way: `report` prints and writes `result` once it is there. */
interface PendingCompare {
  result: Promise<CompareResult>;
  report(c: CompareResult): Promise<void>;
}

/**
 * Checks a compare's inputs and outputs and starts its runs: on `shared`'s pool (its progress counted
 * there) when given, else on a pool of its own, or in this thread for --jobs 1.
 */
async function beginCompare(
  io: Io,
  scenario: string,
  o: CompareCliOptions,
  shared: { pool: ComparePool; onRun: (r: RunSummary) => void } | null,
): Promise<PendingCompare> {
  checkFlagConflicts(o.set, {
    "guest.driver.version": "--drivers",
    seed: "--seeds (seeds 1..n)",
    duration: o.duration === undefined ? undefined : "--duration",
  });
  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const source = readSource(scenario, o);
  const common = {
    drivers: o.drivers,
    seeds,
    set: o.set,
    ...(o.duration !== undefined && { duration: o.duration }),
  };
  const budget = budgetOf(o);
  const runs = o.drivers.length * seeds.length;
  const resolved = o.drivers.map((driver) => resolveScenario(source, { ...common, driver }));
  for (const s of resolved) checkBudget(s, budget, runs);
  if (resolved[0] !== undefined) printWarnings(io, resolved[0]);
  await checkOutputs(o.out, ["compare.json", "report.html"]);
  const bar = shared === null ? progressBar(io, "compare") : null;
  const result =
    shared !== null
      ? compareParallel(source, { ...common, pool: shared.pool, onRun: (_d, _n, r) => shared.onRun(r) })
      : o.jobs === 1
        ? Promise.resolve(
            compare(source, {
              ...common,
              budget,
              onProgress: (d, t, i, n) => bar?.update((i + d / t) / n, `run ${i + 1}/${n}`),
            }),
          )
        : compareParallel(source, {
            ...common,
            ...(o.jobs !== undefined && { jobs: o.jobs }),
            onRun: (done, n, r) =>
              bar?.update(done / n, `${done}/${n} runs (${r.driver} seed ${r.seed} done)`),
          });
  const report = async (c: CompareResult): Promise<void> => {
    bar?.stop();
    if (o.json === true) io.out(`${JSON.stringify({ runs: c.runs })}\n`);
    else io.out(`${formatCompareTable(c)}\n`);
    if (o.out !== undefined) {
      await writeFileAtomic(join(o.out, "compare.json"), `${JSON.stringify(c)}\n`);
      const path = join(o.out, "report.html");
      await writeFileAtomic(path, await renderCompareReport(c));
      if (o.json !== true) io.out(`report: ${path}\n`);
    }
  };
  return { result, report };
}

export const EXIT_OK = 0;
export const EXIT_MODEL = 1;
export const EXIT_USAGE = 2;

/** Errors that mean "the user asked for something invalid" (exit 2). */
const USAGE_ERRORS = new Set([
  "BenchError",
  "BudgetError",
  "ScenarioError",
  "UsageError",
  "TraceSelectorError",
]);

export class UsageError extends Error {
  override name = "UsageError";
}

/** Validation warnings of a scenario on stderr, one line each; they do not change the exit code. */
function printWarnings(io: Io, s: Scenario): void {
  for (const w of scenarioWarnings(s)) io.err(`vnetlab: warning: ${formatWarning(w)}\n`);
}

export interface Io {
  out(s: string): void;
  err(s: string): void;
  isTTY: boolean;
}

const processIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  isTTY: process.stderr.isTTY === true,
};

/** The options of every command that reads and runs a scenario: overrides, extends scope, budgets. */
function scenarioOptions(cmd: Command): Command {
  return cmd
    .option("--set <path=value>", "override a scenario field (repeatable)", collect, [])
    .option(
      "--allow-extends <dir>",
      "let `extends:` read scenario files in this directory too (repeatable; default: only the scenario's own directory)",
      collect,
      [],
    )
    .option(
      "--max-memory <size>",
      "refuse or stop a run that needs more memory (default: half the machine's, at most V8's heap limit)",
      parseSizeArg,
    )
    .option(
      "--max-output <size>",
      `refuse a run whose results would be larger, in characters (default ${Math.floor(MAX_OUTPUT_CHARS / 2)}; at most ${MAX_OUTPUT_CHARS}, V8's longest string)`,
      (v: string) => {
        const n = parseSizeArg(v);
        if (n > MAX_OUTPUT_CHARS) throw new InvalidArgumentError(`must be at most ${MAX_OUTPUT_CHARS}B`);
        return n;
      },
    );
}

export function buildProgram(io: Io): Command {
  const program = new Command("vnetlab")
    .description("Deterministic model of the Linux virtio_net receive path under memory pressure")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError();

  registerBenchCommand(program, io);

  const runCommand = program
    .command("run")
    .description("run one scenario and print its summary")
    .argument("<scenario>", "a preset name (see `vnetlab presets`) or a YAML/JSON file")
    .option("--driver <name>", "driver version (guest.driver.version)")
    .option("--seed <n>", "random seed", parseSeed)
    .option("--duration <d>", 'simulated time, e.g. "10s"')
    .option("--out <dir>", "also write summary.json and report.html into this directory")
    .option("--json", "print one JSON object on stdout")
    .option(
      "--trace <file>",
      "also record the default tracepoints (Perfetto JSON if the file ends in .json, else trace-cmd text)",
    );
  scenarioOptions(runCommand).action(async (scenario: string, o: RunCliOptions) => {
    checkFlagConflicts(o.set, {
      "guest.driver.version": o.driver === undefined ? undefined : "--driver",
      seed: o.seed === undefined ? undefined : "--seed",
      duration: o.duration === undefined ? undefined : "--duration",
    });
    const source = readSource(scenario, o);
    const s = resolveScenario(source, runOpts(o));
    const budget = budgetOf(o);
    checkBudget(s, budget);
    printWarnings(io, s);
    await checkOutputs(o.out, ["summary.json", "report.html"]);
    if (o.trace !== undefined) await checkOutputTarget(o.trace);
    const bar = progressBar(io, "run");
    const onProgress = (d: number, t: number) => bar?.update(d / t);
    let r: RunSummary;
    if (o.trace === undefined) r = runScenario(s, { budget, onProgress });
    else {
      const format = o.trace.endsWith(".json") ? "perfetto" : "text";
      const t = traceToString(source, format, { ...runOpts(o), budget, onProgress });
      await writeFileAtomic(o.trace, t.text);
      r = t.summary;
    }
    bar?.stop();
    if (o.out !== undefined) {
      await writeFileAtomic(join(o.out, "summary.json"), `${JSON.stringify(r, null, 2)}\n`);
      const c = { scenario: r.scenario, drivers: [r.driver], seeds: [r.seed], runs: [r] };
      await writeFileAtomic(join(o.out, "report.html"), await renderCompareReport(c));
    }
    io.out(o.json === true ? `${JSON.stringify(r)}\n` : `${formatRunTable(r)}\n`);
  });

  const compareCommand = program
    .command("compare")
    .description("run a scenario with several driver versions and seeds, and compare them")
    .argument("<scenario>", "a preset name or a YAML/JSON file")
    .option("--drivers <a,b,...>", "driver versions", splitList, DEFAULT_DRIVERS)
    .option("--seeds <n>", "number of seeds per driver (seeds 1..n)", parseCount, 1)
    .option("--jobs <n>", "worker threads (default: one per core)", parseCount)
    .option("--duration <d>", 'simulated time, e.g. "10s"')
    .option("--out <dir>", "write compare.json and report.html into this directory")
    .option("--json", "print {runs:[...]} on stdout");
  scenarioOptions(compareCommand).action(async (scenario: string, o: CompareCliOptions) => {
    await doCompare(io, scenario, o);
  });

  const validateCommand = program
    .command("validate")
    .description("check a scenario file; prints the resolved scenario with --json")
    .argument("<file>", "a YAML/JSON scenario file or a preset name")
    .option("--json", "print the resolved scenario as JSON");
  scenarioOptions(validateCommand).action((file: string, o: ScenarioCliOptions & { json?: boolean }) => {
    checkFlagConflicts(o.set, {});
    const s = resolveScenario(readSource(file, o), { set: o.set });
    checkBudget(s, budgetOf(o));
    printWarnings(io, s);
    io.out(o.json === true ? `${JSON.stringify(s, null, 2)}\n` : `${file}: valid (scenario "${s.name}")\n`);
  });

  program
    .command("presets")
    .description("list the embedded scenarios")
    .option("--json", "print JSON")
    .action((o: { json?: boolean }) => {
      const list = listPresets();
      if (o.json === true) io.out(`${JSON.stringify(list, null, 2)}\n`);
      else {
        const w = Math.max(...list.map((p) => p.name.length));
        io.out(`${list.map((p) => `${p.name.padEnd(w)}  ${p.description}`).join("\n")}\n`);
      }
    });

  program
    .command("schema")
    .description("print the JSON Schema of scenario files")
    .action(() => {
      io.out(`${JSON.stringify(jsonSchema(), null, 2)}\n`);
    });

  program
    .command("start")
    .description(
      "the headline comparison (npm start): the kernel's versions on seed-torrent and probe-under-pressure, several seeds",
    )
    .option("--seeds <n>", "seeds per driver", parseCount, 3)
    .option("--jobs <n>", "worker threads (default: one per core)", parseCount)
    .option("--duration <d>", "simulated time per run (default: each preset's)")
    .option("--out <dir>", "where the reports go", "out")
    .action(async (o: { seeds: number; jobs?: number; duration?: string; out: string }) => {
      for (const preset of HEADLINE_PRESETS) {
        await checkOutputs(join(o.out, preset), ["compare.json", "report.html"]);
      }
      const opts = (preset: string): CompareCliOptions => ({
        drivers: DEFAULT_DRIVERS,
        seeds: o.seeds,
        set: [],
        allowExtends: [],
        out: join(o.out, preset),
        ...(o.jobs !== undefined && { jobs: o.jobs }),
        ...(o.duration !== undefined && { duration: o.duration }),
      });
      if (o.jobs === 1) {
        for (const preset of HEADLINE_PRESETS) {
          io.out(`\n== ${preset} ==\n`);
          await doCompare(io, preset, opts(preset));
        }
        return;
      }
      // Both presets' runs on one pool: the second preset's runs fill the cores the first one's
      // last runs leave idle.
      const total = HEADLINE_PRESETS.length * DEFAULT_DRIVERS.length * o.seeds;
      const pool = await comparePool(o.jobs, total);
      const bar = progressBar(io, "start");
      let done = 0;
      const onRun = (r: RunSummary) => {
        done++;
        bar?.update(done / total, `${done}/${total} runs (${r.driver} seed ${r.seed} done)`);
      };
      try {
        const pending: PendingCompare[] = [];
        for (const preset of HEADLINE_PRESETS) {
          const p = await beginCompare(io, preset, opts(preset), { pool, onRun });
          // Its failure is reported by Promise.all below, not as unhandled while the next one starts.
          p.result.catch(() => undefined);
          pending.push(p);
        }
        const results = await Promise.all(pending.map((p) => p.result));
        bar?.stop();
        for (const [i, preset] of HEADLINE_PRESETS.entries()) {
          io.out(`\n== ${preset} ==\n`);
          await pending[i]!.report(results[i]!);
        }
      } finally {
        await pool.destroy();
      }
    });

  registerSweepCommands(program, io);
  registerTraceCommand(program, io);
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting (tests call this). */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    const err = e as Error;
    if (USAGE_ERRORS.has(err.name)) {
      io.err(`vnetlab: ${err.message}\n`);
      return EXIT_USAGE;
    }
    io.err(`vnetlab: ${err.name}: ${err.message}\n`);
    return EXIT_MODEL;
  }
}

const isEntry =
  process.argv[1] !== undefined && /cli[\\/]main\.ts$|bin[\\/]vnetlab(\.js)?$/.test(process.argv[1]);
/** Write errors that mean the reader of stdout went away or its disk is full: nothing to report to. */
const OUTPUT_GONE = new Set(["EPIPE", "ENOSPC", "EBADF", "EIO", "EDQUOT"]);

/**
 * A closed or full stdout (`vnetlab … | head`, `> /dev/full`) ends the process with exit 1 and one line
 * on stderr, not a stack trace: the error arrives asynchronously, after main() may have returned.
 */
function onStdoutError(e: NodeJS.ErrnoException): void {
  if (!OUTPUT_GONE.has(e.code ?? "")) throw e;
  try {
    process.stderr.write(`vnetlab: cannot write to stdout: ${e.code}\n`);
  } catch {
    // stderr is gone too.
  }
  process.exit(EXIT_MODEL);
}

if (isEntry) {
  process.stdout.on("error", onStdoutError);
  process.exitCode = await main(process.argv.slice(2));
}
