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
import { BROKER_NAMES, startBroker } from './loadgen/brokers.ts';
import type { BrokerName, BrokerOptions, RunningBroker } from './loadgen/brokers.ts';
import { parseList, parseNumber } from './loadgen/cli.ts';
import { compileLoadgen } from './loadgen/loadgen.ts';
import type { LoadgenResult } from './loadgen/loadgen.ts';
import { describeMachine, formatMachine } from './loadgen/machine.ts';
import { buildReport, formatRun } from './loadgen/report.ts';
import type { RunOutcome, ScenarioRuns } from './loadgen/report.ts';
import { errorText, runFreshRounds, runScenarioOnce, runSharedRounds } from './loadgen/rounds.ts';
import type { Contenders } from './loadgen/rounds.ts';
import { SCENARIO_IDS, SCENARIOS } from './loadgen/scenarios.ts';
import type { RunSettings, Scenario, ScenarioId } from './loadgen/scenarios.ts';

interface Options extends RunSettings, BrokerOptions {
  readonly rounds: number;
  readonly scenarios: readonly ScenarioId[];
  readonly brokers: readonly BrokerName[];
}

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

/**
 * One scenario over all brokers. Shared: one broker process per broker serves all rounds;
 * fresh (memory: the "before" RSS must be a just-started broker): a new one every run.
 */
async function runScenario(
  scenario: Scenario,
  options: Options,
  loadgen: string,
  workDir: string,
): Promise<ScenarioRuns> {
  process.stdout.write(`\n${scenario.title(options)}\n`);
  const contenders: Contenders<BrokerName, LoadgenResult> = {
    keys: options.brokers,
    rounds: options.rounds,
    start: (name) => startBroker(name, workDir, options),
    run: (_name, broker: RunningBroker) => runScenarioOnce(loadgen, scenario, options, broker),
    done: (round, name, outcome: RunOutcome) => {
      const prefix = `  round ${String(round + 1)}/${String(options.rounds)}  `;
      process.stdout.write(`${prefix}${formatRun(scenario, name, outcome)}\n`);
    },
    notStarted: (name, reason) => {
      process.stdout.write(`  ${name}: failed to start (${reason})\n`);
    },
  };
  const runs = scenario.freshBrokerPerRun
    ? await runFreshRounds(contenders)
    : await runSharedRounds(contenders);
  return { scenario, runs };
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
    for (const scenario of SCENARIOS) {
      if (options.scenarios.includes(scenario.id))
        collected.push(await runScenario(scenario, options, loadgen.binary, workDir));
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
