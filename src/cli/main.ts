/**
 * The `vnetlab` command line: parses argv with commander and calls the library API. Nothing here
 * models anything; exit codes: 0 success, 2 bad input or usage, 1 model or internal error.
 */
import { join } from "node:path";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import cliProgress from "cli-progress";
import { formatBench, runBench } from "../bench/index.ts";
import {
  formatCompareTable,
  formatRunTable,
  renderCompareReport,
  writeReportAtomic,
} from "../report/index.ts";
import { compareParallel } from "../run/compare-pool.ts";
import { compare, resolveScenario, run } from "../run/run.ts";
import { traceToString } from "../run/trace.ts";
import type { RunSummary } from "../run/types.ts";
import { jsonSchema } from "../scenario/load.ts";
import { listPresets } from "../scenario/presets.ts";
import { registerSweepCommands } from "./sweep-commands.ts";
import { registerTraceCommand } from "./trace-command.ts";

/** The drivers the headline comparison runs: the kernel's versions and the best policy of ours (not in Linux). */
export const DEFAULT_DRIVERS = ["v3.2", "patch1", "rfc-v1", "mainline", "adaptive-retry"];

/**
 * The headline scenarios: the seed's workload, and the same driver under memory that reclaim
 * cannot free (where the versions differ; see docs/results.md).
 */
export const HEADLINE_PRESETS = ["seed-torrent", "probe-under-pressure"];

interface RunCliOptions {
  trace?: string;
  driver?: string;
  seed?: number;
  duration?: string;
  set: string[];
  out?: string;
  json?: boolean;
}

interface CompareCliOptions {
  drivers: string[];
  seeds: number;
  /** Worker threads; 1 runs in this thread with per-run progress. */
  jobs?: number;
  duration?: string;
  set: string[];
  out?: string;
  json?: boolean;
}

function collect(v: string, acc: string[]): string[] {
  return [...acc, v];
}

function splitList(v: string): string[] {
  const list = v
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  if (list.length === 0) throw new InvalidArgumentError("expected a comma-separated list");
  return list;
}

function parseSeed(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new InvalidArgumentError(`expected an integer ≥ 0, got "${v}"`);
  return n;
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new InvalidArgumentError(`expected an integer 1..1000, got "${v}"`);
  return n;
}

function runOpts(o: { driver?: string; seed?: number; duration?: string; set: string[] }) {
  return {
    set: o.set,
    ...(o.driver !== undefined && { driver: o.driver }),
    ...(o.seed !== undefined && { seed: o.seed }),
    ...(o.duration !== undefined && { duration: o.duration }),
  };
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
  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const bar = progressBar(io, "compare");
  const common = {
    drivers: o.drivers,
    seeds,
    set: o.set,
    ...(o.duration !== undefined && { duration: o.duration }),
  };
  const c =
    o.jobs === 1
      ? compare(scenario, {
          ...common,
          onProgress: (d, t, i, n) => bar?.update((i + d / t) / n, `run ${i + 1}/${n}`),
        })
      : await compareParallel(scenario, {
          ...common,
          ...(o.jobs !== undefined && { jobs: o.jobs }),
          onRun: (done, n, r) => bar?.update(done / n, `${done}/${n} runs (${r.driver} seed ${r.seed} done)`),
        });
  bar?.stop();
  if (o.json === true) io.out(`${JSON.stringify({ runs: c.runs })}\n`);
  else io.out(`${formatCompareTable(c)}\n`);
  if (o.out !== undefined) {
    await writeReportAtomic(join(o.out, "compare.json"), `${JSON.stringify(c)}\n`);
    const path = join(o.out, "report.html");
    await writeReportAtomic(path, await renderCompareReport(c));
    if (o.json !== true) io.out(`report: ${path}\n`);
  }
}

export const EXIT_OK = 0;
export const EXIT_MODEL = 1;
export const EXIT_USAGE = 2;

/** Errors that mean "the user asked for something invalid" (exit 2). */
const USAGE_ERRORS = new Set(["BenchError", "ScenarioError", "UsageError", "TraceSelectorError"]);

export class UsageError extends Error {
  override name = "UsageError";
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

export function buildProgram(io: Io): Command {
  const program = new Command("vnetlab")
    .description("Deterministic model of the Linux virtio_net receive path under memory pressure")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError();

  program
    .command("bench")
    .description("run the speed benchmarks (events/s, with baselines side by side)")
    .argument("[suites...]", "suites to run (default: all)")
    .option("--json", "print one JSON object on stdout")
    .option("--quick", "shrink every workload (for smoke tests; numbers are not comparable)")
    .action((suites: string[], o: { json?: boolean; quick?: boolean }) => {
      const rows = runBench(suites, o.quick === true);
      if (o.json === true) io.out(`${JSON.stringify({ workloads: rows }, null, 2)}\n`);
      else io.out(`${formatBench(rows)}\n`);
    });

  program
    .command("run")
    .description("run one scenario and print its summary")
    .argument("<scenario>", "a preset name (see `vnetlab presets`) or a YAML/JSON file")
    .option("--driver <name>", "driver version (guest.driver.version)")
    .option("--seed <n>", "random seed", parseSeed)
    .option("--duration <d>", 'simulated time, e.g. "10s"')
    .option("--set <path=value>", "override a scenario field (repeatable)", collect, [])
    .option("--out <dir>", "also write summary.json and report.html into this directory")
    .option("--json", "print one JSON object on stdout")
    .option(
      "--trace <file>",
      "also record the default tracepoints (Perfetto JSON if the file ends in .json, else trace-cmd text)",
    )
    .action(async (scenario: string, o: RunCliOptions) => {
      const bar = progressBar(io, "run");
      const onProgress = (d: number, t: number) => bar?.update(d / t);
      let r: RunSummary;
      if (o.trace === undefined) r = run(scenario, { ...runOpts(o), onProgress });
      else {
        const t = traceToString(scenario, o.trace.endsWith(".json") ? "perfetto" : "text", {
          ...runOpts(o),
          onProgress,
        });
        await writeReportAtomic(o.trace, t.text);
        r = t.summary;
      }
      bar?.stop();
      if (o.out !== undefined) {
        await writeReportAtomic(join(o.out, "summary.json"), `${JSON.stringify(r, null, 2)}\n`);
        const c = { scenario: r.scenario, drivers: [r.driver], seeds: [r.seed], runs: [r] };
        await writeReportAtomic(join(o.out, "report.html"), await renderCompareReport(c));
      }
      io.out(o.json === true ? `${JSON.stringify(r)}\n` : `${formatRunTable(r)}\n`);
    });

  program
    .command("compare")
    .description("run a scenario with several driver versions and seeds, and compare them")
    .argument("<scenario>", "a preset name or a YAML/JSON file")
    .option("--drivers <a,b,...>", "driver versions", splitList, DEFAULT_DRIVERS)
    .option("--seeds <n>", "number of seeds per driver (seeds 1..n)", parseCount, 1)
    .option("--jobs <n>", "worker threads (default: one per core)", parseCount)
    .option("--duration <d>", 'simulated time, e.g. "10s"')
    .option("--set <path=value>", "override a scenario field (repeatable)", collect, [])
    .option("--out <dir>", "write compare.json and report.html into this directory")
    .option("--json", "print {runs:[...]} on stdout")
    .action(async (scenario: string, o: CompareCliOptions) => {
      await doCompare(io, scenario, o);
    });

  program
    .command("validate")
    .description("check a scenario file; prints the resolved scenario with --json")
    .argument("<file>", "a YAML/JSON scenario file or a preset name")
    .option("--set <path=value>", "override a scenario field (repeatable)", collect, [])
    .option("--json", "print the resolved scenario as JSON")
    .action((file: string, o: { set: string[]; json?: boolean }) => {
      const s = resolveScenario(file, { set: o.set });
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
        io.out(`\n== ${preset} ==\n`);
        await doCompare(io, preset, {
          drivers: DEFAULT_DRIVERS,
          seeds: o.seeds,
          set: [],
          out: join(o.out, preset),
          ...(o.jobs !== undefined && { jobs: o.jobs }),
          ...(o.duration !== undefined && { duration: o.duration }),
        });
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
if (isEntry) {
  process.exitCode = await main(process.argv.slice(2));
}
