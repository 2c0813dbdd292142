/**
 * `vnetlab sweep | merge | report | export | show`: parameter sweeps into a SQLite results store and
 * what to do with the results. Parsing and printing only; the work is in src/run/sweep.ts,
 * src/run/store*.ts and src/report/sweep*.ts.
 */
import { availableParallelism } from "node:os";
import { basename, dirname, extname, join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { Presets, SingleBar } from "cli-progress";
import { checkOutputTarget, writeReportAtomic } from "../report/write.ts";
import { renderSweepReport, type SweepReportRun } from "../report/sweep.ts";
import { type ExportRun, exportCsv, exportJsonl } from "../report/sweep-export.ts";
import {
  paramOverrides,
  parseGrid,
  parseShard,
  type Shard,
  shardFromEnv,
  SweepUsageError,
} from "../run/grid.ts";
import { resolveScenario } from "../run/run.ts";
import { type Campaign, CorruptRowError, ResultStore, type StoredRun } from "../run/store.ts";
import { mergeStores } from "../run/store-merge.ts";
import { reproduceArgs, runPlan, planSweep, type SweepStart } from "../run/sweep.ts";
import { codeIdentity } from "../run/sweep-identity.ts";
import { ScenarioError, type ScenarioIssue, showValue } from "../scenario/errors.ts";
import { readScenario, scenarioHash } from "../scenario/load.ts";
import { formatNumber, hostDrops, rtoCount } from "../report/stats.ts";
import type { Io } from "./main.ts";

/** Several runs failed; the sweep itself completed and stored them. */
export class SweepFailuresError extends Error {
  override name = "SweepFailures";
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** A whole number from 1 to `max` (seeds, jobs: a bound keeps "1e308" from reaching an allocation). */
function intUpTo(max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(
        `must be a whole number from 1 to ${max}, got ${showValue(v.slice(0, 40))}`,
      );
    }
    return n;
  };
}

const positiveInt = intUpTo(Number.MAX_SAFE_INTEGER);
/** Seeds per point: 10 000 already makes a sweep of 10 000 runs per point. */
const MAX_SEEDS = 10_000;
const MAX_JOBS = 1024;

/**
 * Rejects a grid axis that lists one value twice in different spellings ("512MiB" and "536870912B"):
 * values are compared by the scenario they resolve to, so the sweep never runs one point twice.
 * Values that do not resolve are left to planSweep, which reports every problem together.
 */
function checkGridMeaning(scenario: string, grid: readonly string[], set: readonly string[]): void {
  const source = readScenario(scenario);
  const issues: ScenarioIssue[] = [];
  for (const axis of parseGrid(grid)) {
    const byHash = new Map<string, string>();
    for (const value of axis.values) {
      let hash: string;
      try {
        hash = scenarioHash(resolveScenario(source, { set: [...set, `${axis.path}=${value}`] }));
      } catch (e) {
        if (e instanceof ScenarioError) continue;
        throw e;
      }
      const same = byHash.get(hash);
      if (same !== undefined) {
        issues.push({
          path: axis.path,
          value,
          message: `means the same as ${showValue(same)} (the scenario resolves alike); list each value once`,
        });
      } else {
        byHash.set(hash, value);
      }
    }
  }
  if (issues.length > 0) throw new ScenarioError(issues, "in --grid");
}

function shardArg(v: string): Shard {
  try {
    return parseShard(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** Default store file: sweep.sqlite, or one per shard so array tasks never share a file. */
export function defaultStore(shard: Shard | undefined): string {
  return shard === undefined ? "sweep.sqlite" : `sweep.shard-${shard.index}-of-${shard.count}.sqlite`;
}

/** POSIX shell quoting: bare when only safe characters, else single quotes. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

/** "42s", "3m07s", "2h05m". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** A write stream over the Io, which cli-progress draws on (it needs write and isTTY). */
function barStream(io: Io): NodeJS.WritableStream {
  return {
    isTTY: true,
    columns: process.stderr.columns,
    write: (s: string, cb?: () => void) => {
      io.err(s);
      cb?.();
      return true;
    },
  } as unknown as NodeJS.WritableStream;
}

function describeStart(s: SweepStart, shard: (Shard & { from?: string }) | undefined): string {
  const { plan, campaign } = s;
  const where =
    shard === undefined
      ? `${plan.points.length} runs`
      : `${plan.points.length} of ${plan.totalPoints} runs (shard ${shard.index}/${shard.count}${shard.from ? ` from ${shard.from}` : ""})`;
  const news = s.newCampaign ? "new campaign" : "campaign";
  return (
    `sweep: ${news} ${campaign.key} of ${campaign.scenarioName}: ${where}; ${s.alreadyDone} already in the store, ` +
    `running ${s.todo} on ${s.jobs} worker${s.jobs === 1 ? "" : "s"}\n`
  );
}

interface SweepCliOptions {
  grid: string[];
  set: string[];
  seeds: number;
  jobs: number;
  store?: string;
  shard?: Shard;
  retryFailed?: boolean;
}

function registerSweep(program: Command, io: Io): void {
  program
    .command("sweep")
    .description(
      "run the cartesian product of --grid values × seeds, each point a full run, into a SQLite store; " +
        "re-running runs only the points the store lacks",
    )
    .argument("<scenario>", "preset name or scenario file (YAML/JSON)")
    .option("--grid <path=v1,v2,…>", "sweep a scenario field over values (repeatable)", collect, [])
    .option("--set <path=value>", "override a scenario field for every point (repeatable)", collect, [])
    .option(
      "--seeds <n>",
      `seeds per point: s, s+1, …, s+n−1 from the scenario's seed s (at most ${MAX_SEEDS})`,
      intUpTo(MAX_SEEDS),
      1,
    )
    .option("--jobs <n>", `worker threads (at most ${MAX_JOBS})`, intUpTo(MAX_JOBS), availableParallelism())
    .option("--store <file>", "results store (default sweep.sqlite, or sweep.shard-I-of-N.sqlite)")
    .option(
      "--shard <i/n>",
      "run only shard i of n (1-based); default: 0-based SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX " +
        "+ 1 of VNETLAB_SHARD_COUNT",
      shardArg,
    )
    .option("--retry-failed", "run points whose stored run failed again")
    .action(async (scenario: string, o: SweepCliOptions) => {
      const shard = o.shard ?? shardFromEnv();
      checkGridMeaning(scenario, o.grid, o.set);
      const plan = planSweep({ scenario, grid: o.grid, set: o.set, seeds: o.seeds, shard });
      const storePath = o.store ?? defaultStore(shard);
      const store = ResultStore.open(storePath);
      let bar: SingleBar | undefined;
      const t0 = performance.now();
      try {
        const result = await runPlan(plan, store, {
          jobs: o.jobs,
          retryFailed: o.retryFailed === true,
          onStart: (s) => {
            io.err(describeStart(s, shard));
            if (!io.isTTY || s.todo === 0) return;
            bar = new SingleBar(
              {
                stream: barStream(io),
                format: "{bar} {value}/{total} runs | {rate} runs/s | ETA {etaText} | failed {failed}",
                hideCursor: true,
                clearOnComplete: true,
              },
              Presets.shades_classic,
            );
            bar.start(s.todo, 0, { rate: "–", etaText: "–", failed: 0 });
          },
          onRun: (p) => {
            const rate = p.done / ((performance.now() - t0) / 1e3);
            const eta = formatDuration((p.total - p.done) / rate);
            bar?.update(p.done, { rate: rate.toFixed(2), etaText: eta, failed: p.failed });
          },
        });
        bar?.stop();
        const secs = result.wallMs / 1e3;
        io.out(
          `campaign ${result.campaign.key}: ran ${result.done} (${result.failed} failed), ${result.alreadyDone} ` +
            `already stored` +
            (result.skipped > 0 ? `, ${result.skipped} left to other sweeps on the store` : "") +
            `, in ${formatNumber(secs)} s` +
            (result.done > 0 ? ` (${(result.done / secs).toFixed(2)} runs/s, ${result.jobs} jobs)` : "") +
            ` → ${storePath}\n`,
        );
        if (result.failed > 0) {
          throw new SweepFailuresError(
            `${result.failed} run${result.failed === 1 ? "" : "s"} failed; see vnetlab report ${shellQuote(storePath)}`,
          );
        }
      } finally {
        bar?.stop();
        store.close();
      }
    });
}

function openExisting(path: string): ResultStore {
  return ResultStore.open(path, { mustExist: true });
}

type LoadedRun = StoredRun & { summary: SweepReportRun["summary"] };

/**
 * The campaign's readable runs with their summaries. Each corrupt row is named on stderr and skipped;
 * `finish` (after the output is written) fails with exit 2 when there was one.
 */
function loadRuns(store: ResultStore, c: Campaign, io: Io): { runs: LoadedRun[]; finish: () => void } {
  const runs: LoadedRun[] = [];
  let corrupt = 0;
  for (const r of store.runs(c.id)) {
    try {
      runs.push({ ...r, summary: store.summary(r) });
    } catch (e) {
      if (!(e instanceof CorruptRowError)) throw e;
      corrupt++;
      io.err(`vnetlab: warning: ${e.message}; skipped\n`);
    }
  }
  const finish = () => {
    if (corrupt > 0) {
      throw new CorruptRowError(
        `${corrupt} corrupt run${corrupt === 1 ? "" : "s"} in ${store.path} skipped (named above)`,
      );
    }
  };
  return { runs, finish };
}

/** "sweep.sqlite" → "sweep.html" beside it. */
function besideStore(store: string, ext: string): string {
  return join(dirname(store), `${basename(store, extname(store))}${ext}`);
}

function registerResults(program: Command, io: Io): void {
  program
    .command("merge")
    .description("merge the stores of a sharded sweep into one (they must hold the same campaigns)")
    .argument("<stores...>", "shard stores")
    .requiredOption("-o, --output <file>", "the merged store (must not exist)")
    .action((inputs: string[], o: { output: string }) => {
      const r = mergeStores(inputs, o.output);
      io.out(
        `merged ${inputs.length} stores: ${r.campaigns} campaign${r.campaigns === 1 ? "" : "s"}, ${r.runs} runs` +
          `${r.duplicates > 0 ? ` (${r.duplicates} duplicates kept once)` : ""} → ${o.output}\n`,
      );
    });

  const campaignOption = new Option("--campaign <key>", "campaign key or its prefix (default: the newest)");

  program
    .command("report")
    .description(
      "write an HTML report of a sweep: metrics against each swept parameter, per driver, with CIs",
    )
    .argument("<store>", "results store")
    .option("-o, --output <file>", "HTML file (default: the store's name with .html)")
    .addOption(campaignOption)
    .action(async (path: string, o: { output?: string; campaign?: string }) => {
      const out = o.output ?? besideStore(path, ".html");
      await checkOutputTarget(out);
      const store = openExisting(path);
      try {
        const campaign = store.selectCampaign(o.campaign);
        const { runs, finish } = loadRuns(store, campaign, io);
        await writeReportAtomic(out, await renderSweepReport({ campaign, runs, storePath: path }));
        io.out(`${out}\n`);
        finish();
      } finally {
        store.close();
      }
    });

  program
    .command("export")
    .description("export a sweep's runs as CSV (scalar counters as columns) or JSON Lines")
    .argument("<store>", "results store")
    .addOption(
      new Option("--format <format>", "output format").choices(["csv", "jsonl"]).makeOptionMandatory(),
    )
    .option("-o, --output <file>", "write to a file (atomically) instead of stdout")
    .option("--series", "include the sampled time series (jsonl)")
    .addOption(campaignOption)
    .action(
      async (
        path: string,
        o: { format: "csv" | "jsonl"; output?: string; series?: boolean; campaign?: string },
      ) => {
        if (o.output !== undefined) await checkOutputTarget(o.output);
        const store = openExisting(path);
        try {
          const campaign = store.selectCampaign(o.campaign);
          const loaded = loadRuns(store, campaign, io);
          const runs: ExportRun[] = loaded.runs;
          const text =
            o.format === "csv" ? exportCsv(campaign, runs) : exportJsonl(campaign, runs, o.series === true);
          if (o.output === undefined) io.out(text);
          else await writeReportAtomic(o.output, text);
          loaded.finish();
        } finally {
          store.close();
        }
      },
    );

  program
    .command("show")
    .description("show one stored run; --command prints the `vnetlab run` command that reproduces it")
    .argument("<store>", "results store")
    .argument("<run-id>", "run id (the first column of export and report)", positiveInt)
    .option("--command", "print only the reproducing command")
    .option("--json", "print the run's summary as JSON")
    .action((path: string, id: number, o: { command?: boolean; json?: boolean }) => {
      const store = openExisting(path);
      try {
        const run = store.run(id);
        if (run === undefined) throw new SweepUsageError(`${path} has no run ${id}`);
        store.checkRow(run);
        const campaign = store.campaigns().find((c) => c.id === run.campaignId)!;
        const command = ["vnetlab", ...reproduceArgs(campaign, run)].map(shellQuote).join(" ");
        if (o.command === true) {
          io.out(`${command}\n`);
          warnIfNotReproducible(io, campaign, run);
        } else if (o.json === true) {
          io.out(
            `${JSON.stringify(store.summary(run) ?? { status: run.status, error: run.error }, null, 2)}\n`,
          );
        } else {
          io.out(describeRun(campaign, run, store, command));
        }
      } finally {
        store.close();
      }
    });
}

/** Tells on stderr when the scenario file or the model changed since the run, so the command would differ. */
function warnIfNotReproducible(io: Io, campaign: Campaign, run: StoredRun): void {
  if (codeIdentity().sourceHash !== campaign.sourceHash) {
    io.err(
      `vnetlab: warning: the model's source changed since this run (${campaign.sourceHash} then, ${codeIdentity().sourceHash} now): the fingerprint may differ\n`,
    );
  }
  let now: string;
  try {
    const set = [...campaign.sets, ...paramOverrides(run.params)];
    now = scenarioHash(resolveScenario(campaign.source, { set, seed: run.seed }));
  } catch (e) {
    now = `unreadable (${(e as Error).message.split("\n")[0]})`;
  }
  if (run.scenarioHash !== null && now !== run.scenarioHash) {
    io.err(
      `vnetlab: warning: ${campaign.source} resolves differently now (scenario ${now}, was ${run.scenarioHash})\n`,
    );
  }
}

function describeRun(campaign: Campaign, run: StoredRun, store: ResultStore, command: string): string {
  const lines = [
    `run ${run.id} of campaign ${campaign.key} (${campaign.scenarioName}, vnetlab ${campaign.packageVersion}` +
      `${campaign.gitCommit === null ? "" : `, commit ${campaign.gitCommit.slice(0, 12)}`})`,
    ...Object.entries(run.params).map(([k, v]) => `  ${k} = ${v}`),
    `  seed ${run.seed}, ${run.status}${run.fingerprint === null ? "" : `, fingerprint ${run.fingerprint}`}, ` +
      `wall ${formatNumber(run.wallMs / 1e3)} s, finished ${run.finishedAt}`,
  ];
  const s = store.summary(run);
  if (s !== undefined) {
    lines.push(
      `  goodput ${formatNumber(s.goodputBps / 1e6)} Mbit/s, host drops ${formatNumber(hostDrops(s))}, ` +
        `stalls ${formatNumber(s.stalls.totalMs / 1e3)} s, RTOs ${rtoCount(s)}, events ${s.events}`,
    );
  }
  if (run.error !== null) lines.push(`  error: ${run.error}`);
  lines.push(`reproduce: ${command}`);
  return `${lines.join("\n")}\n`;
}

/** Adds sweep, merge, report, export and show to the program. */
export function registerSweepCommands(program: Command, io: Io): void {
  registerSweep(program, io);
  registerResults(program, io);
}
