/**
 * The `vnetlab` command line: parses argv with commander and calls the library API. Nothing here
 * models anything; exit codes: 0 success, 2 bad input or usage, 1 model or internal error.
 */
import { Command, CommanderError, Option } from "commander";
import { BenchError, formatBench, runBench } from "../bench/index.ts";

export const EXIT_OK = 0;
export const EXIT_MODEL = 1;
export const EXIT_USAGE = 2;

/** Errors that mean "the user asked for something invalid" (exit 2). */
const USAGE_ERRORS = new Set(["BenchError", "ScenarioError", "UsageError"]);

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
    .command("start")
    .description("the headline comparison (npm start)")
    .addOption(new Option("--quick", "shrink the work").hideHelp())
    .action((o: { quick?: boolean }) => {
      io.out(`${formatBench(runBench([], o.quick === true))}\n`);
    });

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
    if (USAGE_ERRORS.has(err.name) || err instanceof BenchError) {
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
