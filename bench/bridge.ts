/**
 * `npm run bench:bridge`: messages per second across a bridge, ours -> ours beside Debian's
 * Mosquitto 2.0 -> itself and (when built) Mosquitto 2.1 -> itself.
 *
 *   node dist/bench/bridge.js [--qos 0,1] [--rounds 3] [--duration 3] [--warmup 1]
 *     [--pairs 100] [--window 50] [--programs ours,mosquitto,mosquitto21] [--mosquitto21 /work/ref/m212]
 *     [--tcp-nodelay]
 *
 * Each contender is two brokers of the same program: B (the subscribers') and A (the
 * publishers'), whose mosquitto.conf ends with
 *
 *   connection b
 *   address 127.0.0.1:<port of B>
 *   topic bench/# out <qos>
 *
 * The load generator's qos1 mode (pairs: publisher i -> bench/q1/<i> -> subscriber i; `--qos 0`
 * for QoS 0) runs with its publishers on A and its subscribers on B (`--sub-port`), so every
 * message it counts has crossed the bridge; `lost` (messages sent at A never received at B
 * after a drain) must be 0. Before the first run a probe message published on A must arrive
 * at B, so no run starts while the bridge is still connecting. The contenders take turns as
 * in bench/broker.ts.
 *
 * Shape: 100 pairs, as the qos1 scenario of `npm run bench`, with its 16 in flight per QoS 1
 * publisher and its 1 ms polling; with 10 pairs the generator itself is the limit (16 x 10
 * PUBLISHes per poll at QoS 1, 64 x 10 at QoS 0, about what ours then delivered). A pair may
 * be 50 messages behind (not 1,000): all of them wait in one queue, the bridge's on A, and
 * 100 x 50 stays under max_queued_messages (10,000), where 100 x 1,000 would measure what a
 * broker drops.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect as mqttConnect } from 'mqtt';
import type { MqttClient } from 'mqtt';
import {
  brokerConfig,
  freePort,
  MOSQUITTO_BINARY,
  OUR_BINARY,
  spawnBroker,
} from './loadgen/brokers.ts';
import type { RunningBroker } from './loadgen/brokers.ts';
import { parseList, parseNumber, UsageError } from './loadgen/cli.ts';
import { compileLoadgen, runLoadgen } from './loadgen/loadgen.ts';
import type { LoadgenResult, TrafficResult } from './loadgen/loadgen.ts';
import { describeMachine, formatMachine } from './loadgen/machine.ts';
import { median, ratio, renderMarkdown } from './loadgen/report.ts';
import type { RunOutcome } from './loadgen/report.ts';
import { errorText, runSharedRounds } from './loadgen/rounds.ts';
import type { Contenders } from './loadgen/rounds.ts';
import { integer, traffic, trafficTimeout } from './loadgen/scenarios.ts';
import type { RunSettings } from './loadgen/scenarios.ts';

const PROGRAMS = ['ours', 'mosquitto', 'mosquitto21'] as const;
type Program = (typeof PROGRAMS)[number];
const QOS_LEVELS = ['0', '1'] as const;
type Qos = (typeof QOS_LEVELS)[number];

const DEFAULT_MOSQUITTO21 = '/work/ref/m212';
/** Seconds the bridge may take to carry the first probe message. */
const BRIDGE_READY_TIMEOUT_MS = 20_000;
/** Seconds after the window for the last messages to cross (the loss check). */
const DRAIN_SECONDS = 5;

interface Options extends RunSettings {
  readonly qos: readonly Qos[];
  readonly rounds: number;
  readonly pairs: number;
  readonly window: number;
  readonly programs: readonly Program[];
  readonly mosquitto21Dir: string;
  readonly tcpNoDelay: boolean;
}

const USAGE = `usage: node dist/bench/bridge.js [options]
  --qos <list>          bridge and client QoS: 0, 1 (default 0,1)
  --rounds <n>          runs per contender; tables show medians (default 3)
  --duration <s>        measured seconds per run (default 3)
  --warmup <s>          seconds of load before the window (default 1)
  --pairs <n>           publisher -> subscriber pairs (default 100)
  --window <n>          messages a pair may be behind (default 50)
  --programs <list>     ${PROGRAMS.join(',')} (default all; mosquitto21 only when built)
  --mosquitto21 <dir>   Mosquitto 2.1 build: <dir>/bin/mosquitto or <dir>/src/mosquitto
                        (default ${DEFAULT_MOSQUITTO21})
  --tcp-nodelay         brokers set TCP_NODELAY (set_tcp_nodelay true; default off)`;

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      qos: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      pairs: { type: 'string' },
      window: { type: 'string' },
      programs: { type: 'string' },
      mosquitto21: { type: 'string' },
      'tcp-nodelay': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  return {
    qos: values.qos === undefined ? QOS_LEVELS : parseList(values.qos, QOS_LEVELS, 'QoS'),
    rounds: Math.round(parseNumber(values.rounds, 3, 'rounds', 1)),
    duration: parseNumber(values.duration, 3, 'duration', 0.5),
    warmup: parseNumber(values.warmup, 1, 'warmup', 0),
    connections: 0,
    pairs: Math.round(parseNumber(values.pairs, 100, 'pairs', 1)),
    window: Math.round(parseNumber(values.window, 50, 'window', 1)),
    programs:
      values.programs === undefined ? PROGRAMS : parseList(values.programs, PROGRAMS, 'program'),
    mosquitto21Dir: values.mosquitto21 ?? DEFAULT_MOSQUITTO21,
    tcpNoDelay: values['tcp-nodelay'] === true,
  };
}

function versionOf(binary: string): string | null {
  const run = spawnSync(binary, ['-h'], { encoding: 'utf8' });
  return /mosquitto version (\S+)/.exec(`${run.stdout}${run.stderr}`)?.[1] ?? null;
}

/** The Mosquitto 2.1 broker: bin/ link or the make tree; null when there is none. */
function findMosquitto21(dir: string): string | null {
  const binary = [join(dir, 'bin', 'mosquitto'), join(dir, 'src', 'mosquitto')].find((path) =>
    existsSync(path),
  );
  return binary ?? null;
}

interface Contender {
  readonly program: Program;
  readonly label: string;
  readonly binary: string;
}

function write(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/**
 * Resolves once a message published on A's port arrives at B's: the bridge is up and
 * forwards bench/#. Publishes a probe every 200 ms until then.
 */
async function waitForBridge(portA: number, portB: number, qos: 0 | 1): Promise<number> {
  const started = performance.now();
  const open = (port: number, id: string): Promise<MqttClient> =>
    new Promise((resolve, reject) => {
      const client = mqttConnect({
        host: '127.0.0.1',
        port,
        protocolVersion: 4,
        clientId: id,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      });
      client.once('connect', () => {
        resolve(client);
      });
      client.once('error', reject);
    });
  const topic = `bench/probe/${String(process.pid)}`;
  const subscriber = await open(portB, `bridge-probe-sub-${String(process.pid)}`);
  const publisher = await open(portA, `bridge-probe-pub-${String(process.pid)}`);
  try {
    await subscriber.subscribeAsync(topic, { qos });
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (performance.now() - started > BRIDGE_READY_TIMEOUT_MS) {
          clearInterval(timer);
          reject(new Error(`no probe crossed the bridge in ${String(BRIDGE_READY_TIMEOUT_MS)} ms`));
          return;
        }
        publisher.publish(topic, 'probe', { qos });
      }, 200);
      subscriber.once('message', () => {
        clearInterval(timer);
        resolve();
      });
    });
  } finally {
    subscriber.end(true);
    publisher.end(true);
  }
  return performance.now() - started;
}

/** The two brokers of one contender, seen by the round runner as A (the publishers'). */
interface BrokerPair {
  readonly a: RunningBroker;
  readonly b: RunningBroker;
  readonly bridgeReadyMs: number;
}

async function startPair(
  contender: Contender,
  qos: Qos,
  options: Options,
  workDir: string,
): Promise<BrokerPair> {
  const portB = await freePort();
  const configB = join(workDir, `${contender.program}-q${qos}-b.conf`);
  await writeFile(configB, brokerConfig(portB, options.tcpNoDelay));
  const b = await spawnBroker(`${contender.label} B`, [contender.binary, '-c', configB], portB);
  try {
    const portA = await freePort();
    const configA = join(workDir, `${contender.program}-q${qos}-a.conf`);
    // The bridge section last: the options after `connection` belong to the bridge. Notices
    // on A: Mosquitto says there when its bridge drops messages (not at warning level).
    const bridge = [
      'log_type notice',
      'connection b',
      `address 127.0.0.1:${String(portB)}`,
      `topic bench/# out ${qos}`,
    ];
    await writeFile(configA, `${brokerConfig(portA, options.tcpNoDelay)}${bridge.join('\n')}\n`);
    const a = await spawnBroker(`${contender.label} A`, [contender.binary, '-c', configA], portA);
    try {
      const bridgeReadyMs = await waitForBridge(portA, portB, qos === '0' ? 0 : 1);
      return { a, b, bridgeReadyMs };
    } catch (error) {
      await a.stop();
      throw error;
    }
  } catch (error) {
    await b.stop();
    throw error;
  }
}

function loadgenArgs(qos: Qos, options: Options, pair: BrokerPair): string[] {
  return [
    ...traffic(options, [
      '--mode',
      'qos1',
      '--qos',
      qos,
      '--clients',
      String(options.pairs),
      '--qos-window',
      '16',
      '--window',
      String(options.window),
      '--refill',
      '1',
      '--tick-us',
      '1000',
      '--sub-port',
      String(pair.b.port),
      '--broker2-pid',
      String(pair.b.pid),
    ]),
    '--drain',
    String(DRAIN_SECONDS),
  ];
}

interface QosRuns {
  readonly qos: Qos;
  readonly runs: Map<Program, RunOutcome[]>;
  readonly notes: string[];
}

const received = (r: LoadgenResult): number | null =>
  r.kind === 'traffic' && r.elapsed > 0 ? r.delivered / r.elapsed : null;

function describeRun(label: string, outcome: RunOutcome): string {
  if (outcome.kind !== 'ok') return `${label}: ${outcome.kind} (${outcome.error})`;
  const r = outcome.result;
  if (r.kind !== 'traffic') return `${label}: unexpected result`;
  const pct = (cpu: number): string => `${((100 * cpu) / r.elapsed).toFixed(0)}%`;
  const other = Math.max(0, r.machineCpu - r.brokerCpu - r.broker2Cpu - r.generatorCpu);
  const loss =
    r.lost > 0 ? `, LOST ${String(r.lost)}` : r.lost < 0 ? `, ${String(-r.lost)} DUPLICATES` : '';
  return (
    `${label}: ${integer(received(r) ?? 0)} msg/s received at B (sent at A ${integer(r.sent / r.elapsed)}/s` +
    `${r.acked > 0 ? `, acked ${integer(r.acked / r.elapsed)}/s` : ''})${loss}; ` +
    `cpu A/B/gen/other ${pct(r.brokerCpu)} / ${pct(r.broker2Cpu)} / ${pct(r.generatorCpu)} / ${pct(other)}`
  );
}

async function runQos(
  qos: Qos,
  contenders: readonly Contender[],
  options: Options,
  loadgen: string,
  workDir: string,
): Promise<QosRuns> {
  write(
    `\nQoS ${qos}: ${String(options.pairs)} publishers on A -> bridge (topic bench/# out ${qos}) -> ` +
      `${String(options.pairs)} subscribers on B, pairs, 64 B`,
  );
  const byProgram = new Map(contenders.map((c) => [c.program, c]));
  const pairs = new Map<Program, BrokerPair>();
  const notes: string[] = [];
  const label = (program: Program): string => byProgram.get(program)?.label ?? program;
  const rounds: Contenders<Program, LoadgenResult> = {
    keys: contenders.map((c) => c.program),
    rounds: options.rounds,
    start: async (program) => {
      const contender = byProgram.get(program);
      if (contender === undefined) throw new Error(`no contender ${program}`);
      const pair = await startPair(contender, qos, options, workDir);
      pairs.set(program, pair);
      write(
        `  ${contender.label}: bridge carried the probe after ${integer(pair.bridgeReadyMs)} ms`,
      );
      // The round runner sees A; stopping it stops both.
      return {
        ...pair.a,
        exitReason: () => pair.a.exitReason() ?? pair.b.exitReason(),
        stderrLines: () => [...pair.a.stderrLines(), ...pair.b.stderrLines()],
        stop: async (signal) => {
          await pair.a.stop(signal);
          await pair.b.stop(signal);
        },
      };
    },
    run: async (program, broker) => {
      const pair = pairs.get(program);
      if (pair === undefined) return { kind: 'failed', error: 'not started' };
      const gone = broker.exitReason();
      if (gone !== null) return { kind: 'failed', error: `broker ${gone}` };
      const settings: RunSettings = options;
      try {
        const result = await runLoadgen(
          loadgen,
          pair.a.port,
          pair.a.pid,
          loadgenArgs(qos, options, pair),
          (trafficTimeout(settings) + DRAIN_SECONDS) * 1000,
        );
        return { kind: 'ok', result };
      } catch (error) {
        const exit = broker.exitReason();
        return {
          kind: 'failed',
          error: exit === null ? errorText(error) : `${errorText(error)}; broker ${exit}`,
        };
      }
    },
    done: (round, program, outcome) => {
      write(
        `  round ${String(round + 1)}/${String(options.rounds)}  ${describeRun(label(program), outcome)}`,
      );
    },
    notStarted: (program, reason) => {
      notes.push(`${label(program)}: failed to start (${reason})`);
      write(`  ${label(program)}: failed to start (${reason})`);
    },
  };
  const runs = await runSharedRounds(rounds);
  // What the brokers said about trouble (errors, warnings, drops), once per contender and line.
  for (const [program, pair] of pairs) {
    const said = new Set(
      [...pair.a.stderrLines(), ...pair.b.stderrLines()]
        .map((line) => line.replace(/^\d+: /, '').trim())
        .filter((line) => /drop|error|warn|lost|unable|refus/i.test(line)),
    );
    for (const line of said) notes.push(`${label(program)} said: ${line}`);
  }
  for (const [program, outcomes] of runs) {
    for (const outcome of outcomes) {
      if (outcome.kind === 'failed') notes.push(`${label(program)}: run failed (${outcome.error})`);
    }
  }
  return { qos, runs, notes };
}

function traffics(runs: readonly RunOutcome[]): TrafficResult[] {
  return runs.flatMap((run) =>
    run.kind === 'ok' && run.result.kind === 'traffic' ? [run.result] : [],
  );
}

function table(result: QosRuns, contenders: readonly Contender[]): string[] {
  const rate = (program: Program): number | null =>
    median(traffics(result.runs.get(program) ?? []).flatMap((r) => received(r) ?? []));
  const ours = rate('ours');
  const rows = contenders.map((c) => {
    const results = traffics(result.runs.get(c.program) ?? []);
    const value = rate(c.program);
    const pct = (pick: (r: (typeof results)[number]) => number): string => {
      const m = median(results.map((r) => (100 * pick(r)) / r.elapsed));
      return m === null ? '' : `${m.toFixed(0)}%`;
    };
    const lost = Math.max(0, ...results.map((r) => r.lost));
    const perCpu = median(
      results.map((r) => r.delivered / Math.max(1e-9, r.brokerCpu + r.broker2Cpu)),
    );
    return [
      c.label,
      value === null ? 'failed' : integer(value),
      c.program === 'ours' ? '-' : ratio(ours, value),
      pct((r) => r.brokerCpu),
      pct((r) => r.broker2Cpu),
      pct((r) => r.generatorCpu),
      pct((r) => Math.max(0, r.machineCpu - r.brokerCpu - r.broker2Cpu - r.generatorCpu)),
      perCpu === null ? '' : integer(perCpu),
      `${String(lost)}${results.length < (result.runs.get(c.program) ?? []).length ? ` (${String(results.length)}/${String((result.runs.get(c.program) ?? []).length)} runs)` : ''}`,
    ];
  });
  return [
    ...renderMarkdown(
      [
        'Bridge',
        'msg/s received at B',
        'ours / this',
        'CPU A',
        'CPU B',
        'CPU gen',
        'CPU other',
        'msg per A+B CPU-s',
        'lost',
      ],
      rows,
      1,
    ),
    '',
    contenders
      .filter((c) => c.program !== 'ours')
      .map((c) => `ours / ${c.label.replace(/ -> itself$/, '')}: ${ratio(ours, rate(c.program))}`)
      .join(', '),
    ...result.notes,
  ];
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${errorText(error)}\n${USAGE}\n`);
    process.exitCode = error instanceof UsageError || error instanceof TypeError ? 2 : 1;
    return;
  }
  const machine = describeMachine();
  const m21 = findMosquitto21(options.mosquitto21Dir);
  const m21Version = m21 === null ? null : versionOf(m21);
  const contenders: Contender[] = [];
  const notes: string[] = [];
  for (const program of options.programs) {
    if (program === 'ours') contenders.push({ program, label: 'ours -> ours', binary: OUR_BINARY });
    if (program === 'mosquitto') {
      contenders.push({
        program,
        label: `Mosquitto ${machine.mosquitto} -> itself`,
        binary: MOSQUITTO_BINARY,
      });
    }
    if (program === 'mosquitto21') {
      if (m21 === null)
        notes.push(`Mosquitto 2.1 row skipped: no build in ${options.mosquitto21Dir}`);
      else {
        contenders.push({
          program,
          label: `Mosquitto ${m21Version ?? '2.1'} -> itself`,
          binary: m21,
        });
      }
    }
  }
  const started = Date.now();
  write('# mosquitto-ts bridge benchmark');
  write('');
  for (const line of formatMachine(machine)) write(line);
  write(
    `settings: ${String(options.duration)} s measured after ${String(options.warmup)} s warm-up, ` +
      `${String(options.rounds)} rounds (medians), ${String(options.pairs)} pairs, payload 64 B, ` +
      `TCP_NODELAY ${options.tcpNoDelay ? 'on' : 'off (default)'}`,
  );
  for (const note of notes) write(note);

  const loadgen = await compileLoadgen();
  const workDir = await mkdtemp(join(tmpdir(), 'mosquitto-ts-bridge-'));
  const results: QosRuns[] = [];
  try {
    for (const qos of options.qos) {
      results.push(await runQos(qos, contenders, options, loadgen.binary, workDir));
    }
  } finally {
    await loadgen.dispose();
    await rm(workDir, { recursive: true, force: true });
  }
  write('');
  write(
    `## Results (medians of ${String(options.rounds)} rounds, ${((Date.now() - started) / 60_000).toFixed(1)} min)`,
  );
  for (const result of results) {
    write('');
    write(
      `### QoS ${result.qos}: ${String(options.pairs)} publishers on A -> bridge (topic bench/# out ${result.qos}) -> ${String(options.pairs)} subscribers on B`,
    );
    write('');
    for (const line of table(result, contenders)) write(line);
  }
  const legend = [
    '',
    'Publishers connect to broker A only and subscribers to broker B only, so every message',
    'counted crossed the bridge. "lost": messages sent at A and never received at B after a',
    `${String(DRAIN_SECONDS)} s drain (largest of the runs). QoS 1: publishers keep 16 unacknowledged`,
    'PUBLISHes (PUBACK from A), subscribers acknowledge to B, the bridge forwards with QoS 1. Each',
    `pair is at most ${String(options.window)} messages behind. CPU: user+sys of broker A / broker B / the load`,
    'generator / all other processes, in % of one core, medians. Both brokers read the same',
    'lines as in `npm run bench` (max_queued_messages 10000, max_inflight_messages 20, log_type',
    'error and warning; A also notice), A with the bridge section appended.',
  ];
  for (const line of legend) write(line);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
