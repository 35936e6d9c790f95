/**
 * `npm run bench`: mosquitto-ts against Mosquitto 2.1.2 (the reference), Debian's Mosquitto
 * 2.0.11, Aedes and a bare Node relay (bench/relay.ts) on the same machine.
 *
 *   node dist/bench/broker.js [--duration 3] [--warmup 1] [--rounds 3]
 *     [--only <scenarios or groups>] [--brokers ours,mosquitto-2.1,mosquitto,aedes,relay]
 *     [--connections 10000] [--tcp-nodelay]
 *
 * Each broker runs in its own process on its own port. For every scenario the brokers take
 * turns (ours, mosquitto-2.1, mosquitto, ..., then the next round starting one further), so
 * background load on the machine spreads over all of them; the table shows medians over the
 * rounds and ratios of ours to each other broker. The load comes from bench/loadgen/*.c
 * (compiled here with gcc), which measures the CPU of the broker and of itself in the same
 * window. A broker that is not installed is left out with a note; one that cannot start is
 * reported as "failed to start (<reason>)" and the others still run. Each broker's peak RSS
 * (VmHWM at stop) is reported per scenario and over the whole benchmark.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BROKER_NAMES, brokerMissing, startBroker } from './loadgen/brokers.ts';
import type { BrokerName, BrokerOptions, RunningBroker, TlsListener } from './loadgen/brokers.ts';
import { makeTestCertificates } from './loadgen/certificates.ts';
import { parseList, parseNumber } from './loadgen/cli.ts';
import { compileLoadgen } from './loadgen/loadgen.ts';
import type { LoadgenResult } from './loadgen/loadgen.ts';
import { describeMachine, formatMachine, openFilesAvailable } from './loadgen/machine.ts';
import { buildPeakReport, buildReport, formatRun } from './loadgen/report.ts';
import type { RunOutcome, ScenarioRuns } from './loadgen/report.ts';
import { errorText, runFreshRounds, runScenarioOnce, runSharedRounds } from './loadgen/rounds.ts';
import type { Contenders } from './loadgen/rounds.ts';
import { ALL_SCENARIOS } from './loadgen/scenarios-more.ts';
import { SCENARIO_GROUPS, SCENARIO_IDS } from './loadgen/scenarios.ts';
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
  --only <list>       scenarios, comma separated (default all):
                      ${SCENARIO_IDS.join(',')}
                      or groups: ${Object.keys(SCENARIO_GROUPS).join(',')}
  --brokers <list>    brokers, comma separated: ${BROKER_NAMES.join(',')} (default all)
  --connections <n>   idle clients of the memory scenario (default 10000)
  --tcp-nodelay       brokers disable Nagle's algorithm (set_tcp_nodelay true; default off,
                      as in Mosquitto)
  --http-api          brokers also open a protocol http_api listener (ours: /metrics),
                      to compare runs with it and without`;

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
      'http-api': { type: 'boolean' },
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
    httpApi: values['http-api'] === true,
    scenarios: values.only === undefined ? SCENARIO_IDS : parseScenarios(values.only),
    brokers:
      values.brokers === undefined
        ? BROKER_NAMES
        : sortedBrokers(parseList(values.brokers, BROKER_NAMES, 'broker')),
  };
}

/** Report order (BROKER_NAMES: ours, the reference, ...) whatever order --brokers gave. */
function sortedBrokers(chosen: readonly BrokerName[]): BrokerName[] {
  return BROKER_NAMES.filter((name) => chosen.includes(name));
}

/** Scenario ids and group names (SCENARIO_GROUPS), in run order. */
function parseScenarios(text: string): ScenarioId[] {
  const names = text.split(',').map((name) => name.trim());
  const expanded = names.flatMap((name): readonly string[] => SCENARIO_GROUPS[name] ?? [name]);
  const chosen = parseList(expanded.join(','), SCENARIO_IDS, 'scenario');
  return SCENARIO_IDS.filter((id) => chosen.includes(id));
}

/** What a scenario needs that the run may not have (OpenSSL for TLS), else null. */
interface Capabilities {
  readonly tls: TlsFiles | null;
  readonly loadgenTls: boolean;
}
type TlsFiles = Omit<TlsListener, 'version'>;

/**
 * One scenario over all brokers. Shared: one broker process per broker serves all rounds;
 * fresh (memory: the "before" RSS must be a just-started broker): a new one every run.
 */
async function runScenario(
  scenario: Scenario,
  options: Options,
  loadgen: string,
  workDir: string,
  tlsFiles: TlsFiles | null,
): Promise<ScenarioRuns> {
  process.stdout.write(`\n${scenario.title(options)}\n`);
  const tls =
    scenario.tls === undefined || tlsFiles === null
      ? undefined
      : { ...tlsFiles, version: scenario.tls };
  const peakRssKb = new Map<BrokerName, number>();
  const started: { name: BrokerName; broker: RunningBroker }[] = [];
  const keys = options.brokers.filter(
    (name) => name !== 'relay' || (scenario.relay === true && scenario.tls === undefined),
  );
  const contenders: Contenders<BrokerName, LoadgenResult> = {
    keys,
    rounds: options.rounds,
    start: async (name) => {
      const broker = await startBroker(name, workDir, options, tls === undefined ? {} : { tls });
      started.push({ name, broker });
      return broker;
    },
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
  for (const { name, broker } of started) {
    await broker.stop(); // no-op if the round runner stopped it; records the peak otherwise
    const peak = broker.peakRssKb();
    if (peak !== null && peak > (peakRssKb.get(name) ?? 0)) peakRssKb.set(name, peak);
  }
  return { scenario, runs, peakRssKb };
}

/** Which of `scenarios` cannot run here, with why; the rest run. */
function unrunnable(scenario: Scenario, capabilities: Capabilities): string | null {
  if (scenario.tls === undefined) return null;
  if (!capabilities.loadgenTls)
    return 'the load generator was built without OpenSSL: apt-get install libssl-dev';
  if (capabilities.tls === null) return 'no test certificates (openssl not found)';
  return null;
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
  const openFiles = openFilesAvailable(machine);
  const installed = options.brokers.filter((name) => {
    const missing = brokerMissing(name);
    if (missing !== null) notes.push(`${name}: left out, not installed (${missing})`);
    return missing === null;
  });
  options = { ...options, brokers: installed };
  if (options.scenarios.includes('memory-50k') && 50_000 + SPARE_DESCRIPTORS > openFiles) {
    notes.push(
      `memory-50k: left out, the open files limit is ${String(openFiles)} and cannot be raised here (needs root with CAP_SYS_RESOURCE, or ulimit -Hn >= 51000 before the run)`,
    );
    options = { ...options, scenarios: options.scenarios.filter((id) => id !== 'memory-50k') };
  }
  if (options.scenarios.includes('memory') && options.connections + SPARE_DESCRIPTORS > openFiles) {
    const capped = Math.max(1, openFiles - SPARE_DESCRIPTORS);
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
      `TCP_NODELAY ${options.tcpNoDelay ? 'on' : 'off (default)'}` +
      (options.httpApi === true ? ', with an http_api listener' : ''),
    ...notes,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  const loadgen = await compileLoadgen();
  const workDir = await mkdtemp(join(tmpdir(), 'mosquitto-ts-bench-'));
  const collected: ScenarioRuns[] = [];
  try {
    const chosen = ALL_SCENARIOS.filter((scenario) => options.scenarios.includes(scenario.id));
    const capabilities: Capabilities = {
      loadgenTls: loadgen.tls,
      tls: chosen.some((scenario) => scenario.tls !== undefined)
        ? await makeTestCertificates(workDir)
        : null,
    };
    for (const scenario of chosen) {
      const reason = unrunnable(scenario, capabilities);
      if (reason !== null) {
        process.stdout.write(`\n${scenario.title(options)}\n  left out: ${reason}\n`);
        continue;
      }
      collected.push(
        await runScenario(scenario, options, loadgen.binary, workDir, capabilities.tls),
      );
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
    ...buildPeakReport(collected, options.brokers),
    '',
    'CPU: user+sys of the broker process / of the load generator / of all other processes, in % of',
    'one core, during the measured window (medians; "other" is sampled at 100 Hz, +-10%). Ratios',
    'are ours / other: above 1 is better for msg/s, below 1 is better for latency and memory.',
    "mosquitto-2.1 (2.1.2) is the reference; mosquitto is Debian's 2.0.11. Brokers: ours,",
    'mosquitto-2.1 and mosquitto read the same mosquitto.conf (listener on 127.0.0.1, persistence',
    'false, max_queued_messages 10000, max_inflight_messages 20, log_type error and warning,',
    `set_tcp_nodelay ${String(options.tcpNoDelay)}; the TLS scenarios add cafile, certfile, keyfile and tls_version);`,
    `Aedes ${options.tcpNoDelay ? 'sets noDelay and ' : ''}runs with its defaults (in-memory persistence) in bench/aedes-server.ts;`,
    'relay is bench/relay.ts, a bare QoS 0 forwarder (fan-in, fan-out and qos0-pairs only).',
    'Peak RSS: VmHWM of each broker process, read when it was stopped.',
  ];
  process.stdout.write(`${legend.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
