/**
 * `vnetlab bench [suite…]`: the speed suites with their baselines side by side, and `bench scale`, the
 * cost of a run against flows, link rate and simulated duration (a table and an HTML chart).
 */
import { cpus, loadavg } from "node:os";
import type { Command } from "commander";
import { BenchError, formatBench, runBench } from "../bench/index.ts";
import { benchScale, describePoint, describeWarmUp, formatScale, type ScaleOptions } from "../bench/scale.ts";
import { renderScaleReport } from "../bench/scale-report.ts";
import { checkOutputTarget, writeFileAtomic } from "../report/write.ts";
import { collect, splitList } from "./args.ts";
import type { Io } from "./main.ts";

interface BenchCliOptions {
  json?: boolean;
  quick?: boolean;
  flows?: string[];
  rates?: string[];
  durations?: string[];
  cold?: boolean;
  set?: string[];
  chart: string;
}

const SCALE_ONLY = ["flows", "rates", "durations", "cold", "set"] as const;
const DEFAULT_CHART = "out/bench-scale.html";

async function scale(o: BenchCliOptions, io: Io): Promise<void> {
  const opts: ScaleOptions = { quick: o.quick === true, cold: o.cold === true };
  if (o.flows !== undefined) opts.flows = o.flows.map(Number);
  if (o.rates !== undefined) opts.rates = o.rates;
  if (o.durations !== undefined) opts.durations = o.durations;
  if (o.set !== undefined) opts.set = o.set;
  await checkOutputTarget(o.chart);
  const load = loadavg()[0]!;
  const rows = benchScale(opts, (r) => io.err(`bench scale: ${describePoint(r)} done\n`));
  const context =
    `${cpus()[0]?.model ?? "unknown CPU"} × ${cpus().length}, Node ${process.version}; ` +
    `1-minute load ${load.toFixed(2)} at the start and ${loadavg()[0]!.toFixed(2)} at the end; ` +
    `${describeWarmUp(o.cold === true)}` +
    (o.set === undefined ? "." : `; every configuration with ${o.set.map((a) => `--set ${a}`).join(" ")}.`);
  await writeFileAtomic(o.chart, await renderScaleReport(rows, context));
  if (o.json === true) io.out(`${JSON.stringify({ scale: rows, context }, null, 2)}\n`);
  else io.out(`${formatScale(rows)}\n${context}\nchart: ${o.chart}\n`);
}

export function registerBenchCommand(program: Command, io: Io): void {
  program
    .command("bench")
    .description(
      "run the speed benchmarks (events/s, with baselines side by side); `bench scale` for scaling",
    )
    .argument("[suites...]", "suites to run (default: all but scale)")
    .option("--json", "print one JSON object on stdout")
    .option("--quick", "shrink every workload (for smoke tests; numbers are not comparable)")
    .option("--flows <n,...>", "scale: sweep the number of flows over these values (1..10000)", splitList)
    .option(
      "--rates <r,...>",
      'scale: sweep the uplink rate over these values, e.g. "1Gbit/s,10Gbit/s"',
      splitList,
    )
    .option(
      "--durations <d,...>",
      'scale: sweep the simulated duration over these values, e.g. "10s,60s"',
      splitList,
    )
    .option("--cold", "scale: measure each configuration's first run, V8's warm-up included")
    .option(
      "--set <path=value>",
      "scale: override a field of the scenario of every configuration (repeatable), e.g. apps.readers[0].rcvbuf=16KiB",
      collect,
    )
    .option("--chart <file>", "scale: where to write the HTML chart", DEFAULT_CHART)
    .action(async (suites: string[], o: BenchCliOptions) => {
      if (suites.includes("scale")) {
        if (suites.length > 1) throw new BenchError("bench scale runs alone; name no other suite with it");
        return scale(o, io);
      }
      const misplaced = SCALE_ONLY.find((k) => o[k] !== undefined);
      if (misplaced !== undefined) throw new BenchError(`--${misplaced} applies to \`bench scale\` only`);
      const rows = runBench(suites, o.quick === true);
      if (o.json === true) io.out(`${JSON.stringify({ workloads: rows }, null, 2)}\n`);
      else io.out(`${formatBench(rows)}\n`);
    });
}
