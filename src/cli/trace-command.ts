/**
 * `vnetlab trace`: one run with tracepoints on, written in trace-cmd report's layout or as a
 * Perfetto-readable JSON file (src/run/trace.ts does the work).
 */
import { type Command, InvalidArgumentError } from "commander";
import { writeReportAtomic } from "../report/write.ts";
import { DEFAULT_TRACE_EVENTS, type TraceFormat, traceToString } from "../run/trace.ts";
import type { Io } from "./main.ts";
import { collect, parseSeed } from "./args.ts";

interface TraceCliOptions {
  driver?: string;
  seed?: number;
  set: string[];
  event: string[];
  from?: string;
  to?: string;
  format: TraceFormat;
  output?: string;
}

function parseFormat(v: string): TraceFormat {
  if (v !== "text" && v !== "perfetto")
    throw new InvalidArgumentError(`expected text or perfetto, got "${v}"`);
  return v;
}

export function registerTraceCommand(program: Command, io: Io): void {
  program
    .command("trace")
    .description(
      "run a scenario with tracepoints on and print them as trace-cmd report does (or write Perfetto JSON)",
    )
    .argument("<scenario>", "a preset name or a YAML/JSON file")
    .option("--driver <name>", "driver version (guest.driver.version)")
    .option("--seed <n>", "random seed", parseSeed)
    .option("--set <path=value>", "override a scenario field (repeatable)", collect, [])
    .option(
      "-e, --event <SUBSYS[:EVENT]>",
      `tracepoints, as trace-cmd record -e (repeatable; "all" for every one; default: ${DEFAULT_TRACE_EVENTS.join(" ")})`,
      collect,
      [],
    )
    .option("--from <t>", 'start of the window, e.g. "2s" (default: 0)')
    .option("--to <t>", "end of the window; the run stops there (default: the scenario's duration)")
    .option(
      "--format <f>",
      "text (trace-cmd report) or perfetto (Chrome Trace Event JSON)",
      parseFormat,
      "text",
    )
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (scenario: string, o: TraceCliOptions) => {
      const r = traceToString(scenario, o.format, {
        set: o.set,
        ...(o.event.length > 0 && { events: o.event }),
        ...(o.driver !== undefined && { driver: o.driver }),
        ...(o.seed !== undefined && { seed: o.seed }),
        ...(o.from !== undefined && { from: o.from }),
        ...(o.to !== undefined && { to: o.to }),
      });
      if (o.output === undefined) io.out(r.text);
      else {
        await writeReportAtomic(o.output, r.text);
        io.err(`trace: ${r.records} records (${o.format}) in ${o.output}\n`);
      }
    });
}
