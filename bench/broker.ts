/**
 * `npm run bench`: mosquitto-ts against Debian's Mosquitto and Aedes on the same machine.
 *
 *   node dist/bench/broker.js [--duration 3] [--warmup 1] [--rounds 3]
 *     [--only fan-in,fan-out,qos1,latency,memory] [--brokers ours,mosquitto,aedes]
 *     [--connections 10000] [--tcp-nodelay]
 *
 * Each broker runs in its own process on its own port. For every scenario the brokers take
 * turns (ours, mosquitto, aedes, then the next round starting one further), so background
 * load on the machine spreads over all of them; the table shows medians over the rounds.
 * The load comes from bench/loadgen/loadgen.c (compiled here with gcc), which measures the
 * CPU of the broker and of itself in the same window. A broker that cannot start is reported
 * as "failed to start (<reason>)" and the others still run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BROKER_NAMES, BrokerStartError, startBroker } from './loadgen/brokers.ts';
import type { BrokerName, BrokerOptions, RunningBroker } from './loadgen/brokers.ts';
import { compileLoadgen, runLoadgen } from './loadgen/loadgen.ts';
import { describeMachine, formatMachine } from './loadgen/machine.ts';
import { buildReport, formatRun } from './loadgen/report.ts';
import type { RunOutcome, ScenarioRuns } from './loadgen/report.ts';
import { SCENARIO_IDS, SCENARIOS } from './loadgen/scenarios.ts';
import type { RunSettings, Scenario, ScenarioId } from './loadgen/scenarios.ts';

interface Options extends RunSettings, BrokerOptions {
  readonly rounds: number;
  readonly scenarios: readonly ScenarioId[];
  readonly brokers: readonly BrokerName[];
}

/** Pause between runs, so a broker has closed the previous run's clients before the next. */
const SETTLE_MS = 300;
/** Descriptors kept free for the processes' own use beside the memory scenario's clients. */
const SPARE_DESCRIPTORS = 200;

const USAGE = `usage: node dist/bench/broker.js [options]
  --duration <s>      measured seconds per run (default 3)
  --warmup <s>        seconds of load before each measured window (default 1)
  --rounds <n>        runs per scenario and broker; the table shows medians (default 3)
  --only <list>       scenarios, comma separated: ${SCENARIO_IDS.join(',')} (default all)
  --brokers <list>    brokers, comma separated: ${BROKER_NAMES.join(',')} (default all)
  --connections <n>   idle clients of the memory scenario (default 10000)
  --tcp-nodelay       brokers disable Nagle's algorithm (set_tcp_nodelay true; default off,
                      as in Mosquitto)`;

class UsageError extends Error {}

function parseList<T extends string>(text: string, allowed: readonly T[], what: string): T[] {
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  const chosen: T[] = [];
  for (const item of items) {
    const known = allowed.find((name) => name === item);
    if (known === undefined)
      throw new UsageError(`unknown ${what} "${item}" (known: ${allowed.join(', ')})`);
    if (!chosen.includes(known)) chosen.push(known);
  }
  if (chosen.length === 0) throw new UsageError(`no ${what} given`);
  return chosen;
}

function parseNumber(
  text: string | undefined,
  fallback: number,
  name: string,
  min: number,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min)
    throw new UsageError(`--${name} must be a number >= ${String(min)}`);
  return value;
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      only: { type: 'string' },
      brokers: { type: 'string' },
      connections: { type: 'string' },
      'tcp-nodelay': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  return {
    duration: parseNumber(values.duration, 3, 'duration', 0.5),
    warmup: parseNumber(values.warmup, 1, 'warmup', 0),
    rounds: Math.round(parseNumber(values.rounds, 3, 'rounds', 1)),
    connections: Math.round(parseNumber(values.connections, 10_000, 'connections', 1)),
    tcpNoDelay: values['tcp-nodelay'] === true,
    scenarios:
      values.only === undefined ? SCENARIO_IDS : parseList(values.only, SCENARIO_IDS, 'scenario'),
    brokers:
      values.brokers === undefined
        ? BROKER_NAMES
        : parseList(values.brokers, BROKER_NAMES, 'broker'),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Turn order of one round: rotated by the round number. */
function rotation<T>(items: readonly T[], round: number): T[] {
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

class Bench {
  constructor(
    private readonly options: Options,
    private readonly loadgen: string,
    private readonly workDir: string,
  ) {}

  private async start(name: BrokerName): Promise<RunningBroker | string> {
    try {
      return await startBroker(name, this.workDir, this.options);
    } catch (error) {
      if (error instanceof BrokerStartError) return error.message;
      return `unexpected: ${errorText(error)}`;
    }
  }

  private async runOnce(scenario: Scenario, broker: RunningBroker): Promise<RunOutcome> {
    const gone = broker.exitReason();
    if (gone !== null) return { kind: 'failed', error: `broker ${gone}` };
    try {
      const args = scenario.loadgenArgs(this.options);
      const result = await runLoadgen(
        this.loadgen,
        broker.port,
        broker.pid,
        args,
        scenario.timeout(this.options) * 1000,
      );
      return { kind: 'ok', result };
    } catch (error) {
      await sleep(100);
      const exit = broker.exitReason();
      return {
        kind: 'failed',
        error: exit === null ? errorText(error) : `${errorText(error)}; broker ${exit}`,
      };
    }
  }

  private report(round: number, name: BrokerName, scenario: Scenario, outcome: RunOutcome): void {
    const prefix = `  round ${String(round + 1)}/${String(this.options.rounds)}  `;
    process.stdout.write(`${prefix}${formatRun(scenario, name, outcome)}\n`);
  }

  /**
   * One broker process per broker serves all rounds of the scenario. A broker that failed to
   * start or failed a run sits out the rest of the scenario (a hung broker would otherwise
   * cost a setup timeout per round).
   */
  private async runShared(scenario: Scenario, runs: Map<BrokerName, RunOutcome[]>): Promise<void> {
    const running = new Map<BrokerName, RunningBroker>();
    const out = new Set<BrokerName>();
    try {
      for (const name of this.options.brokers) {
        const broker = await this.start(name);
        if (typeof broker === 'string') {
          runs.get(name)?.push({ kind: 'not-started', error: broker });
          process.stdout.write(`  ${name}: failed to start (${broker})\n`);
        } else {
          running.set(name, broker);
        }
      }
      for (let round = 0; round < this.options.rounds; round++) {
        for (const name of rotation(this.options.brokers, round)) {
          const broker = running.get(name);
          if (broker === undefined || out.has(name)) continue;
          const outcome = await this.runOnce(scenario, broker);
          runs.get(name)?.push(outcome);
          this.report(round, name, scenario, outcome);
          if (outcome.kind !== 'ok') out.add(name);
          await sleep(SETTLE_MS);
        }
      }
    } finally {
      for (const broker of running.values()) await broker.stop();
    }
  }

  /** A fresh broker for every run (memory: the "before" RSS must be a just-started broker). */
  private async runFresh(scenario: Scenario, runs: Map<BrokerName, RunOutcome[]>): Promise<void> {
    const out = new Set<BrokerName>();
    for (let round = 0; round < this.options.rounds; round++) {
      for (const name of rotation(this.options.brokers, round)) {
        if (out.has(name)) continue;
        const broker = await this.start(name);
        let outcome: RunOutcome;
        if (typeof broker === 'string') {
          outcome = { kind: 'not-started', error: broker };
        } else {
          try {
            outcome = await this.runOnce(scenario, broker);
          } finally {
            await broker.stop();
          }
        }
        runs.get(name)?.push(outcome);
        this.report(round, name, scenario, outcome);
        if (outcome.kind !== 'ok') out.add(name);
        await sleep(SETTLE_MS);
      }
    }
  }

  async runScenario(scenario: Scenario): Promise<ScenarioRuns> {
    process.stdout.write(`\n${scenario.title(this.options)}\n`);
    const runs = new Map<BrokerName, RunOutcome[]>(this.options.brokers.map((name) => [name, []]));
    if (scenario.freshBrokerPerRun) await this.runFresh(scenario, runs);
    else await this.runShared(scenario, runs);
    return { scenario, runs };
  }
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${errorText(error)}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const machine = describeMachine();
  const notes: string[] = [];
  if (
    options.scenarios.includes('memory') &&
    options.connections + SPARE_DESCRIPTORS > machine.openFilesLimit
  ) {
    const capped = Math.max(1, machine.openFilesLimit - SPARE_DESCRIPTORS);
    notes.push(
      `memory: ${String(options.connections)} clients exceed the open files limit; measured ${String(capped)}`,
    );
    options = { ...options, connections: capped };
  }
  const started = Date.now();
  const lines = [
    '# mosquitto-ts broker benchmark',
    '',
    ...formatMachine(machine),
    `settings: ${String(options.duration)} s measured after ${String(options.warmup)} s warm-up, ` +
      `${String(options.rounds)} rounds (medians), payload 64 B, brokers ${options.brokers.join(', ')}, ` +
      `TCP_NODELAY ${options.tcpNoDelay ? 'on' : 'off (default)'}`,
    ...notes,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  const loadgen = await compileLoadgen();
  const workDir = await mkdtemp(join(tmpdir(), 'mosquitto-ts-bench-'));
  const collected: ScenarioRuns[] = [];
  try {
    const bench = new Bench(options, loadgen.binary, workDir);
    for (const scenario of SCENARIOS) {
      if (options.scenarios.includes(scenario.id))
        collected.push(await bench.runScenario(scenario));
    }
  } finally {
    await loadgen.dispose();
    await rm(workDir, { recursive: true, force: true });
  }

  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const legend = [
    '',
    `## Results (medians of ${String(options.rounds)} rounds, ${minutes} min)`,
    '',
    ...buildReport(collected, options.brokers, options),
    '',
    'CPU: user+sys of the broker process / of the load generator / of all other processes, in % of',
    'one core, during the measured window (medians; "other" is sampled at 100 Hz, +-10%). Ratios',
    'are ours / other: above 1 is better for msg/s, below 1 is better for latency and memory.',
    'Brokers: mosquitto and ours read the same mosquitto.conf (listener on 127.0.0.1,',
    'persistence false, max_queued_messages 10000, max_inflight_messages 20, log_type error and',
    `warning, set_tcp_nodelay ${String(options.tcpNoDelay)}); Aedes ${options.tcpNoDelay ? 'sets noDelay and ' : ''}runs with its defaults`,
    '(in-memory persistence) in bench/aedes-server.ts.',
  ];
  process.stdout.write(`${legend.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
